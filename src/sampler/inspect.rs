//! One distribution through a filter chain, whole: what `tokenaudit sample` shows, so a
//! user sees what a setting does to a distribution, and so the chain's semantics can be
//! checked against other implementations id by id.

use super::entropix::{self, State, Thresholds};
use super::filters::{self, Filter};
use super::metrics;

/// The chain's output for one distribution.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspection {
    /// One probability per input id after the chain, renormalised over the kept ids;
    /// 0 for removed ids.
    pub probs: Vec<f64>,
    /// Ids kept.
    pub kept: usize,
    /// Entropy (bits) and varentropy (bits²) of the input distribution (softmax of the
    /// logits at temperature 1), which the entropix states are read from.
    pub entropy_bits: f32,
    pub varentropy_bits: f32,
    /// The entropix state of those two at the published thresholds.
    pub state: &'static str,
}

/// Apply `f` to `logits` (probabilities come in as their logarithms).
pub fn inspect(logits: &[f32], f: &Filter) -> Inspection {
    let mut probs = vec![0.0; logits.len()];
    let kept = filters::kept(logits, f);
    for &(id, p) in &kept {
        probs[id as usize] = p;
    }
    let (h, v) = metrics::metrics(logits);
    let state: State = entropix::classify(h, v, &Thresholds::default());
    Inspection {
        probs,
        kept: kept.len(),
        entropy_bits: h,
        varentropy_bits: v,
        state: state.as_str(),
    }
}

/// Probabilities as logits: ln p, −∞ for 0. Errors on a value outside [0, 1] or not
/// finite, or on a sum that is not 1 within 1e-3 (a list that is not a distribution).
pub fn logits_of_probs(probs: &[f64]) -> Result<Vec<f32>, String> {
    if let Some((i, p)) = probs
        .iter()
        .enumerate()
        .find(|(_, p)| !(p.is_finite() && (0.0..=1.0).contains(*p)))
    {
        return Err(format!("probability {i} is {p}, not in [0, 1]"));
    }
    let sum: f64 = probs.iter().sum();
    if (sum - 1.0).abs() > 1e-3 {
        return Err(format!(
            "the probabilities sum to {sum}, not 1 (give --logits for unnormalised scores)"
        ));
    }
    Ok(probs
        .iter()
        .map(|&p| {
            if p == 0.0 {
                f32::NEG_INFINITY
            } else {
                p.ln() as f32
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_p_and_top_k_from_their_definitions() {
        let z = logits_of_probs(&[0.5, 0.3, 0.15, 0.05]).unwrap();
        // min-p 0.2: keep p ≥ 0.1 → 0.5, 0.3, 0.15 renormalised over 0.95.
        let f = Filter {
            min_p: 0.2,
            ..Filter::temp(1.0)
        };
        let r = inspect(&z, &f);
        let want = [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0];
        for (a, b) in r.probs.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{:?}", r.probs);
        }
        // top-k 1 at a tie keeps the lower id.
        let z = logits_of_probs(&[0.4, 0.4, 0.2]).unwrap();
        let f = Filter {
            top_k: 1,
            ..Filter::temp(1.0)
        };
        assert_eq!(inspect(&z, &f).probs, vec![1.0, 0.0, 0.0]);
        assert!(logits_of_probs(&[0.5, 0.6]).is_err());
        assert!(logits_of_probs(&[1.5, -0.5]).is_err());
    }
}

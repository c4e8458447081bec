//! What top-k log-probabilities say about one token's probability.
//!
//! An engine returns only the k most probable tokens per step. A token among them has its
//! probability exactly; a token missing from them has a probability at most the smallest
//! one returned, since the list holds the k largest. When the engine names tokens only by
//! text and several ids share that text, a listed text may be another id's, so it proves
//! nothing about the candidate beyond the largest probability listed.

use super::logprobs::{Step, TokenRef};

/// `lo ≤ p ≤ hi`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub lo: f32,
    pub hi: f32,
}

impl Bound {
    /// Nothing known (a step the engine never reached).
    pub const UNKNOWN: Bound = Bound { lo: 0.0, hi: 1.0 };
    /// Known to be zero.
    pub const ZERO: Bound = Bound { lo: 0.0, hi: 0.0 };

    /// Known exactly (the token was among the top log-probabilities).
    pub fn exact(p: f32) -> Bound {
        Bound { lo: p, hi: p }
    }
    /// Whether the probability is known exactly rather than bounded.
    pub fn is_exact(&self) -> bool {
        self.lo == self.hi
    }
    /// The bound on the larger of two probabilities.
    pub fn max(self, o: Bound) -> Bound {
        Bound {
            lo: self.lo.max(o.lo),
            hi: self.hi.max(o.hi),
        }
    }
}

/// How to recognize the candidate among the returned tokens.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub id: u32,
    /// Its text, for engines that name tokens only by text.
    pub text: Option<&'a str>,
    /// No other id of the vocabulary has that text.
    pub text_unique: bool,
}

/// The candidate's probability at one step.
pub fn at_step(step: &Step, c: Candidate) -> Bound {
    let probs = step.top.iter().map(|(_, lp)| lp.exp() as f32);
    let (Some(max), Some(min)) = (probs.clone().reduce(f32::max), probs.reduce(f32::min)) else {
        return Bound::UNKNOWN;
    };
    for (t, lp) in &step.top {
        match t {
            TokenRef::Id(i) if *i == c.id => return Bound::exact(lp.exp() as f32),
            TokenRef::Text(s) if Some(s.as_str()) == c.text => {
                return if c.text_unique {
                    Bound::exact(lp.exp() as f32)
                } else {
                    Bound { lo: 0.0, hi: max }
                };
            }
            _ => {}
        }
    }
    Bound { lo: 0.0, hi: min }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(top: Vec<(TokenRef, f64)>) -> Step {
        Step {
            chosen: top[0].0.clone(),
            chosen_text: None,
            top,
            named: vec![],
        }
    }

    #[test]
    fn exact_bound_and_ambiguous() {
        let s = step(vec![
            (TokenRef::Id(1), 0.5f64.ln()),
            (TokenRef::Id(2), 0.25f64.ln()),
        ]);
        let c = |id| Candidate {
            id,
            text: None,
            text_unique: false,
        };
        assert_eq!(at_step(&s, c(2)), Bound::exact(0.25));
        assert_eq!(at_step(&s, c(9)), Bound { lo: 0.0, hi: 0.25 });
        let t = step(vec![
            (TokenRef::Text("a".into()), 0.5f64.ln()),
            (TokenRef::Text("b".into()), 0.125f64.ln()),
        ]);
        let a = Candidate {
            id: 7,
            text: Some("a"),
            text_unique: true,
        };
        assert_eq!(at_step(&t, a), Bound::exact(0.5));
        let a_shared = Candidate {
            text_unique: false,
            ..a
        };
        assert_eq!(at_step(&t, a_shared), Bound { lo: 0.0, hi: 0.5 });
        let z = Candidate {
            id: 8,
            text: Some("z"),
            text_unique: true,
        };
        assert_eq!(at_step(&t, z), Bound { lo: 0.0, hi: 0.125 });
    }
}

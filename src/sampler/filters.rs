//! Temperature, adaptive temperature, top-k, top-p and min-p (docs/sampler.md, "Formulas").
//!
//! All three truncations are defined on the full distribution p = softmax(β·z / T) with the
//! tokens ranked by p, highest first (ties: lower id first):
//! - top-k keeps the first k;
//! - top-p keeps the shortest prefix whose mass reaches `top_p` (a token is kept while the
//!   mass ranked above it is < `top_p`);
//! - min-p keeps every token with p ≥ min_p · max p (a token exactly at the cut-off is kept,
//!   within a relative 1e-6 so rounding cannot drop it).
//!
//! Each keeps a prefix of the same ranking, so the order they run in does not matter: the
//! kept set is the shortest of the three prefixes. The draw then renormalises over it.

use std::cmp::Ordering;

use super::metrics::{self, BLOCK, LANES};

/// Tolerance (in log-probability) of the min-p comparison: p ≥ min_p · p_max · (1 − 1e-6).
pub const MIN_P_TOL: f64 = 1e-6;

/// Slack (log-probability) of the top-p pre-filter, far above the exp error.
const TOP_P_SLACK: f64 = 1e-3;

/// What to do to the logits before one random draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filter {
    /// Temperature; ≤ 0 (or NaN) means greedy.
    pub temp: f32,
    /// Logit multiplier applied before the temperature (adaptive temperature β ≥ 1); 1 = none.
    pub beta: f32,
    /// Keep the k most probable tokens; 0 = off.
    pub top_k: usize,
    /// Nucleus mass; ≥ 1 = off.
    pub top_p: f32,
    /// Keep p ≥ min_p · max p; ≤ 0 = off.
    pub min_p: f32,
}

impl Filter {
    /// Temperature only (no truncation).
    pub fn temp(temp: f32) -> Self {
        Self {
            temp,
            beta: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
        }
    }

    /// True when the filter reduces to argmax.
    pub fn is_greedy(&self) -> bool {
        self.temp.is_nan() || self.temp <= 0.0 || self.top_k == 1
    }

    /// The logit scale s = β / T of softmax(s·z).
    pub fn scale(&self) -> f32 {
        self.beta / self.temp
    }
}

/// Adaptive temperature ("softmax is not enough", Veličković et al. 2024, arXiv 2410.01104):
/// β = max(poly(H), 1) when H (nats) > `ent_min_nats`, else 1. Logits are multiplied by β,
/// so it only ever sharpens.
pub fn adaptive_beta(h_nats: f32, ent_min_nats: f32, poly: &[f32; 5]) -> f32 {
    if h_nats.is_nan() || h_nats <= ent_min_nats {
        return 1.0;
    }
    let h = h_nats as f64;
    let mut acc = 0f64;
    for &c in poly {
        acc = acc * h + c as f64;
    }
    // max(NaN, 1) = 1 as well.
    (acc as f32).max(1.0)
}

/// Reused buffers: the kept candidates (logit, id) and their unnormalised weights.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scratch {
    pub(crate) cand: Vec<(f32, u32)>,
    pub(crate) weights: Vec<f64>,
}

/// Rank order: higher logit first, then lower id.
fn rank(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    b.0.partial_cmp(&a.0)
        .unwrap_or(Ordering::Equal)
        .then(a.1.cmp(&b.1))
}

/// The running top-k buffer: candidates with z ≥ `cut`, the best `k` of them (k = 0: all).
/// A bounded buffer with a rising threshold, so a flat 128k-logit row costs one pass, not a
/// sort.
struct TopK<'a> {
    out: &'a mut Vec<(f32, u32)>,
    k: usize,
    cap: usize,
    cut: f64,
    kth: f32,
    pruned: bool,
}

impl<'a> TopK<'a> {
    fn new(out: &'a mut Vec<(f32, u32)>, k: usize, cut: f64) -> Self {
        out.clear();
        let cap = if k == 0 { usize::MAX } else { (2 * k).max(64) };
        Self {
            out,
            k,
            cap,
            cut,
            kth: f32::NEG_INFINITY,
            pruned: false,
        }
    }

    /// Could a logit `z` enter? (NaN never does.) After pruning a new token must beat the
    /// k-th strictly: on a tie the earlier (lower) id ranks first.
    #[inline(always)]
    fn admits(&self, z: f32) -> bool {
        z as f64 >= self.cut && (!self.pruned || z > self.kth)
    }

    #[inline(always)]
    fn offer(&mut self, z: f32, i: usize) {
        if !self.admits(z) {
            return;
        }
        self.out.push((z, i as u32));
        if self.out.len() >= self.cap {
            let k = self.k;
            self.out.select_nth_unstable_by(k - 1, rank);
            self.out.truncate(k);
            // select_nth puts the k-th ranked at k − 1 and only better ones before it.
            self.kth = self.out[k - 1].0;
            self.pruned = true;
        }
    }

    fn finish(self) {
        let k = self.k;
        if k > 0 && self.out.len() > k {
            self.out.select_nth_unstable_by(k - 1, rank);
            self.out.truncate(k);
        }
    }
}

/// Collect the candidates (see [`TopK`]). Blocks of 64 whose largest logit cannot enter are
/// skipped with one comparison.
fn collect(logits: &[f32], cut: f64, top_k: usize, out: &mut Vec<(f32, u32)>) {
    #[cfg(target_arch = "x86_64")]
    if metrics::uses_avx2() {
        // SAFETY: AVX2 was detected at run time.
        return unsafe { collect_avx2(logits, cut, top_k, out) };
    }
    collect_body(logits, cut, top_k, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn collect_avx2(logits: &[f32], cut: f64, top_k: usize, out: &mut Vec<(f32, u32)>) {
    collect_body(logits, cut, top_k, out)
}

#[inline(always)]
fn collect_body(logits: &[f32], cut: f64, top_k: usize, out: &mut Vec<(f32, u32)>) {
    let mut tk = TopK::new(out, top_k, cut);
    let mut base = 0usize;
    for blk in logits.chunks(BLOCK) {
        // The block's largest logit (eight lanes, vectorised); most blocks stop here.
        let mut lm = [f32::NEG_INFINITY; LANES];
        let chunks = blk.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for j in 0..LANES {
                if c[j] > lm[j] {
                    lm[j] = c[j];
                }
            }
        }
        let mut bm = f32::NEG_INFINITY;
        for &z in lm.iter().chain(rest) {
            if z > bm {
                bm = z;
            }
        }
        if tk.admits(bm) {
            for (j, &z) in blk.iter().enumerate() {
                tk.offer(z, base + j);
            }
        }
        base += blk.len();
    }
    tk.finish();
}

/// Apply `f` to `logits` (largest finite logit `zmax` at `argmax`; no +∞ logits) and leave
/// the kept candidates and their weights in `scratch`. `s0_unit` is Σ exp(z − zmax) (from
/// [`metrics::Moments`]): it is Z when β/T = 1 and bounds Z otherwise. Candidates come
/// ranked (highest first) when `sorted` or when top-k/top-p is on, otherwise in id order.
/// Returns the total weight.
pub(crate) fn apply(
    logits: &[f32],
    zmax: f32,
    argmax: usize,
    s0_unit: f64,
    f: &Filter,
    sorted: bool,
    scratch: &mut Scratch,
) -> f64 {
    scratch.cand.clear();
    scratch.weights.clear();
    if f.is_greedy() || !f.scale().is_finite() || f.scale() <= 0.0 {
        scratch.cand.push((zmax, argmax as u32));
        scratch.weights.push(1.0);
        return 1.0;
    }
    let s = f.scale();
    let sd = s as f64;
    let zmaxd = zmax as f64;
    let mut cut = f64::NEG_INFINITY;
    if f.min_p > 0.0 {
        cut = cut.max(zmaxd + ((f.min_p as f64).ln() - MIN_P_TOL) / sd);
    }
    let use_top_p = f.top_p < 1.0;
    let top_p = f.top_p.max(0.0) as f64;
    let known = (s == 1.0).then_some(s0_unit);
    // Z = Σ exp(s·(z − zmax)) over the whole vocabulary, when top-p needs it and it is known.
    let z_total: Option<f64>;
    if use_top_p && f.top_k == 0 {
        // No top-k bound: first the normaliser, then a pre-filter. A token in the nucleus has
        // p > (1 − top_p)/n: everything ranked at or after it (≤ n tokens of probability
        // ≤ p) holds the remaining mass > 1 − top_p.
        let z = known.unwrap_or_else(|| metrics::sum_exp(logits, zmax, s));
        z_total = Some(z);
        let floor = z * (1.0 - top_p) / logits.len() as f64;
        if floor > 0.0 {
            cut = cut.max(zmaxd + (floor.ln() - TOP_P_SLACK) / sd);
        }
        collect(logits, cut, 0, &mut scratch.cand);
    } else {
        // Z known (s = 1) or not needed; otherwise bounded, and computed only when the
        // bounds cannot decide.
        z_total = known;
        collect(logits, cut, f.top_k, &mut scratch.cand);
    }
    if scratch.cand.is_empty() {
        scratch.cand.push((zmax, argmax as u32));
    }
    if sorted || use_top_p || f.top_k > 0 {
        scratch.cand.sort_unstable_by(rank);
    }
    for &(z, _) in &scratch.cand {
        let w = (sd * (z as f64 - zmaxd)).exp();
        scratch.weights.push(w);
    }
    if use_top_p {
        let w = &scratch.weights;
        let keep = match z_total {
            Some(z) => top_p_prefix(w, top_p * z, top_p * z),
            None => {
                let (lo, hi) = z_bounds(s0_unit, sd, logits.len(), w);
                top_p_prefix(
                    w,
                    top_p * lo * (1.0 - BOUND_MARGIN),
                    top_p * hi * (1.0 + BOUND_MARGIN),
                )
                .or_else(|| {
                    let z = metrics::sum_exp(logits, zmax, s);
                    top_p_prefix(w, top_p * z, top_p * z)
                })
            }
        };
        // With equal limits the walk always decides.
        let keep = keep.unwrap_or(w.len());
        scratch.cand.truncate(keep);
        scratch.weights.truncate(keep);
    }
    let mut total = 0f64;
    for &w in &scratch.weights {
        total += w;
    }
    total
}

/// Relative margin on the bounds of Z, far above the error of the computed sums: a decision
/// taken from the bounds is the one the exact Z would give.
const BOUND_MARGIN: f64 = 1e-5;

/// How many ranked candidates top-p keeps: token j (j ≥ 1) stays while the mass before it is
/// below `keep_below`, and the list ends at the first j whose mass before is ≥ `cut_from`.
/// `None` when some mass before falls between the two (undecided).
fn top_p_prefix(w: &[f64], keep_below: f64, cut_from: f64) -> Option<usize> {
    let mut before = 0f64;
    for (j, &wj) in w.iter().enumerate() {
        if j > 0 && before >= keep_below {
            return if before >= cut_from { Some(j) } else { None };
        }
        before += wj;
    }
    Some(w.len())
}

/// Bounds on Z_s = Σ x_i^s (x_i = exp(z_i − zmax) ∈ (0, 1]) from S0 = Σ x_i and the ranked
/// candidates' weights `w` (every other token weighs at most the last candidate):
/// for s ≥ 1, n·(S0/n)^s ≤ Z_s ≤ S0 (power mean; x^s ≤ x); for s ≤ 1 the other way round;
/// and Σw ≤ Z_s ≤ Σw + (n − |w|)·w_last.
fn z_bounds(s0: f64, s: f64, n: usize, w: &[f64]) -> (f64, f64) {
    let nf = n as f64;
    let cand: f64 = w.iter().sum();
    let last = w.last().copied().unwrap_or(0.0);
    let power_mean = (nf.ln() + s * (s0.ln() - nf.ln())).exp();
    let (lo, hi) = if s >= 1.0 {
        (power_mean, s0)
    } else {
        (s0, power_mean)
    };
    (
        lo.max(cand),
        hi.min(cand + (nf - w.len() as f64).max(0.0) * last),
    )
}

/// The tokens `f` keeps from `logits`, highest probability first (ties: lower id first),
/// each with its probability renormalised over the kept set. NaN logits count as −∞;
/// logits at +∞ share all the mass. Empty when no logit is finite.
pub fn kept(logits: &[f32], f: &Filter) -> Vec<(u32, f64)> {
    let Some((mut zmax, argmax)) = metrics::max_logit(logits) else {
        return Vec::new();
    };
    let masked;
    let mut logits = logits;
    if zmax == f32::INFINITY {
        masked = super::posinf_mask(logits);
        logits = &masked;
        zmax = 0.0;
    }
    let mut scratch = Scratch::default();
    let s0 = metrics::sum_exp(logits, zmax, 1.0);
    let total = apply(logits, zmax, argmax, s0, f, true, &mut scratch);
    scratch
        .cand
        .iter()
        .zip(&scratch.weights)
        .map(|(&(_, id), &w)| (id, w / total))
        .collect()
}

//! Entropy and varentropy of softmax(z · s) in one pass over the logits (docs/sampler.md,
//! "Formulas").
//!
//! With z' = z − max z, y = s · z' and e = exp(y), the sums S0 = Σe, S1 = Σe·y, S2 = Σe·y²
//! give, in nats, H = ln S0 − S1/S0 and V = S2/S0 − (S1/S0)² (the variance of the
//! surprisal −ln p = ln S0 − y). Bits: H / ln 2 and V / (ln 2)².
//!
//! The exponentials use [`exp_f32`], a branch-free f32 exp the compiler vectorises. Each
//! sum is accumulated in eight f32 lanes over blocks of 64 logits (every term of a sum has
//! the same sign, so this costs at most ~5e-7 relative), the block sums in f64, always in
//! the same order: the result is the same bits on every call whatever the thread count.

use std::f64::consts::LN_2;

/// Lane count of the accumulation loops (fixed: it decides the summation order).
pub(crate) const LANES: usize = 8;

/// Logits per f32 block before the lanes are added into the f64 totals.
pub(crate) const BLOCK: usize = 64;

/// Arguments are clamped to [EXP_FLOOR, 0]; exp of anything below −87.68 comes out as 0.
const EXP_FLOOR: f32 = -88.0;

/// x limited to [−88, 0], NaN and −∞ to the low end (`f32::clamp` would keep NaN).
#[inline(always)]
#[allow(clippy::manual_clamp)]
pub(crate) fn clamp_arg(x: f32) -> f32 {
    x.max(EXP_FLOOR).min(0.0)
}

/// exp(x) for x ≤ 0 (what softmax needs after subtracting the max), relative error < 5e-7
/// down to −87.
///
/// Cody–Waite reduction x = n·ln2 + r with |r| ≤ ln2/2, degree-6 Taylor polynomial for e^r,
/// and 2^n built from the exponent bits. Only IEEE adds and multiplies (no FMA), and no
/// branch, so it vectorises and gives the same bits wherever it runs. x > 0 is clamped to 0;
/// x < −87.68, −∞ and NaN give 0 (2^n underflows to the zero bit pattern).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    exp_core(clamp_arg(x))
}

/// [`exp_f32`] without the clamp: x must already be in [−88, 0].
#[inline(always)]
pub(crate) fn exp_core(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let m = x * LOG2E + MAGIC;
    let n = m - MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // m's low mantissa bits hold n (offset by 0x40_0000); 2^n = (n + 127) << 23, which is
    // the bit pattern of 0.0 for n = −127 (x < −87.68).
    let ni = (m.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let pow2 = f32::from_bits(((ni + 127) as u32) << 23);
    p * pow2
}

/// Largest logit and the first index holding it. NaN logits are ignored; `None` when no
/// logit is greater than −∞ (empty, all −∞ or NaN).
pub fn max_logit(logits: &[f32]) -> Option<(f32, usize)> {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = logits.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            if c[j] > lanes[j] {
                lanes[j] = c[j];
            }
        }
    }
    let mut m = f32::NEG_INFINITY;
    for &z in lanes.iter().chain(rest) {
        if z > m {
            m = z;
        }
    }
    if m == f32::NEG_INFINITY {
        return None;
    }
    let idx = logits.iter().position(|&z| z == m)?;
    Some((m, idx))
}

/// Whether the AVX2 copies of the hot loops run (detected at run time). They give the same
/// bits as the portable ones: the same IEEE operations per lane in the same order, no FMA;
/// only the vector width differs.
pub fn uses_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Σ exp(s·(z − zmax)) over all logits (f32 lanes per block, f64 totals, fixed order).
pub fn sum_exp(logits: &[f32], zmax: f32, s: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if uses_avx2() {
        // SAFETY: AVX2 was detected at run time.
        return unsafe { sum_exp_avx2(logits, zmax, s) };
    }
    sum_exp_body(logits, zmax, s)
}

/// [`sum_exp`] without the AVX2 path (for checking that both give the same bits).
pub fn sum_exp_portable(logits: &[f32], zmax: f32, s: f32) -> f64 {
    sum_exp_body(logits, zmax, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sum_exp_avx2(logits: &[f32], zmax: f32, s: f32) -> f64 {
    sum_exp_body(logits, zmax, s)
}

#[inline(always)]
fn sum_exp_body(logits: &[f32], zmax: f32, s: f32) -> f64 {
    let mut total = 0f64;
    for blk in logits.chunks(BLOCK) {
        let mut a = [0f32; LANES];
        let chunks = blk.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for j in 0..LANES {
                a[j] += exp_core(clamp_arg((c[j] - zmax) * s));
            }
        }
        for &z in rest {
            a[0] += exp_core(clamp_arg((z - zmax) * s));
        }
        for v in a {
            total += v as f64;
        }
    }
    total
}

/// The three sums behind entropy and varentropy of softmax(s·z).
#[derive(Debug, Clone, Copy)]
pub struct Moments {
    /// Σ e
    pub s0: f64,
    /// Σ e·y
    pub s1: f64,
    /// Σ e·y²
    pub s2: f64,
}

impl Moments {
    /// One pass over the logits; `zmax` must be the largest logit (see [`max_logit`]).
    pub fn compute(logits: &[f32], zmax: f32, s: f32) -> Self {
        #[cfg(target_arch = "x86_64")]
        if uses_avx2() {
            // SAFETY: AVX2 was detected at run time.
            return unsafe { moments_avx2(logits, zmax, s) };
        }
        moments_body(logits, zmax, s)
    }

    /// [`Moments::compute`] without the AVX2 path (same bits).
    pub fn compute_portable(logits: &[f32], zmax: f32, s: f32) -> Self {
        moments_body(logits, zmax, s)
    }

    /// Entropy in nats.
    pub fn entropy_nats(&self) -> f64 {
        (self.s0.ln() - self.s1 / self.s0).max(0.0)
    }

    /// Varentropy in nats².
    pub fn varentropy_nats(&self) -> f64 {
        let mean = self.s1 / self.s0;
        (self.s2 / self.s0 - mean * mean).max(0.0)
    }

    /// (entropy in bits, varentropy in bits²).
    pub fn bits(&self) -> (f64, f64) {
        (
            self.entropy_nats() / LN_2,
            self.varentropy_nats() / (LN_2 * LN_2),
        )
    }
}

#[inline(always)]
fn moments_body(logits: &[f32], zmax: f32, s: f32) -> Moments {
    let (mut s0, mut s1, mut s2) = (0f64, 0f64, 0f64);
    for blk in logits.chunks(BLOCK) {
        // Straight element-wise loops over a padded block vectorise best. Padding (and −∞ or
        // NaN logits) is y = −88, e = 0: it adds nothing.
        let mut y = [EXP_FLOOR; BLOCK];
        for (yi, &z) in y.iter_mut().zip(blk) {
            *yi = clamp_arg((z - zmax) * s);
        }
        let mut e = [0f32; BLOCK];
        for (ei, &yi) in e.iter_mut().zip(&y) {
            *ei = exp_core(yi);
        }
        let mut a0 = [0f32; LANES];
        let mut a1 = [0f32; LANES];
        let mut a2 = [0f32; LANES];
        for (ec, yc) in e.chunks_exact(LANES).zip(y.chunks_exact(LANES)) {
            for j in 0..LANES {
                let ey = ec[j] * yc[j];
                a0[j] += ec[j];
                a1[j] += ey;
                a2[j] += ey * yc[j];
            }
        }
        for j in 0..LANES {
            s0 += a0[j] as f64;
            s1 += a1[j] as f64;
            s2 += a2[j] as f64;
        }
    }
    Moments { s0, s1, s2 }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn moments_avx2(logits: &[f32], zmax: f32, s: f32) -> Moments {
    moments_body(logits, zmax, s)
}

/// Entropy (bits) and varentropy (bits²) of softmax(logits): H = −Σ p log2 p,
/// V = Σ p (log2 p + H)².
///
/// NaN logits count as −∞. Logits at +∞ share all the mass (uniform over them). No finite
/// logit at all (empty slice, all −∞/NaN): (NaN, NaN).
pub fn metrics(logits: &[f32]) -> (f32, f32) {
    metrics_at(logits, 1.0)
}

/// Entropy and varentropy of softmax(logits / temp), bits. `temp` ≤ 0 (or NaN) is the greedy
/// limit: uniform over the ties of the largest logit.
pub fn metrics_at(logits: &[f32], temp: f32) -> (f32, f32) {
    let Some((zmax, _)) = max_logit(logits) else {
        return (f32::NAN, f32::NAN);
    };
    if zmax == f32::INFINITY || temp.is_nan() || temp <= 0.0 {
        let ties = logits.iter().filter(|&&z| z == zmax).count();
        return ((ties as f64).log2() as f32, 0.0);
    }
    let (h, v) = Moments::compute(logits, zmax, 1.0 / temp).bits();
    (h as f32, v as f32)
}

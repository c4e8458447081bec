//! Sampler math on hand-computed distributions (docs/methods.md §8, docs/sampler.md): entropy and varentropy
//! in bits, min-p at the cut-off, top-k/top-p order, adaptive temperature never raising the
//! temperature, every entropix state, pause spacing, and seeded determinism across runs and
//! thread pools.

use std::collections::HashSet;

use tokenaudit::sampler::metrics::{exp_f32, Moments};
use tokenaudit::sampler::rng::{SplitMix64, Xoshiro256};
use tokenaudit::sampler::{
    adaptive_beta, check_pause_token, classify, kept, metrics, metrics_at, warnings, Choice,
    Filter, Sampler, SamplerConfig, SamplerKind, State, Step, Thresholds,
};

const POLY: [f32; 5] = [-0.037, 0.481, -2.3, 4.917, -1.791];

fn ln_probs(p: &[f64]) -> Vec<f32> {
    p.iter().map(|&x| x.ln() as f32).collect()
}

fn close(a: f32, b: f64, tol: f64) -> bool {
    ((a as f64) - b).abs() <= tol
}

fn ids(kept: &[(u32, f64)]) -> Vec<u32> {
    kept.iter().map(|k| k.0).collect()
}

/// Deterministic test logits (independent of the crate's RNG).
struct Gen(SplitMix64);

impl Gen {
    fn new(seed: u64) -> Self {
        Gen(SplitMix64::new(seed))
    }
    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly normal (sum of four uniforms, centred).
    fn normal(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732
    }
    fn logits(&mut self, n: usize, std: f64) -> Vec<f32> {
        (0..n).map(|_| (self.normal() * std) as f32).collect()
    }
}

/// Entropy/varentropy in bits by the definition, f64.
fn reference_hv(z: &[f32], temp: f64) -> (f64, f64) {
    let zmax = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let w: Vec<f64> = z
        .iter()
        .map(|&x| ((x as f64 - zmax) / temp).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let p: Vec<f64> = w.iter().map(|x| x / total).collect();
    let h: f64 = -p
        .iter()
        .filter(|&&x| x > 0.0)
        .map(|x| x * x.log2())
        .sum::<f64>();
    let v: f64 = p
        .iter()
        .filter(|&&x| x > 0.0)
        .map(|x| x * (x.log2() + h).powi(2))
        .sum();
    (h, v)
}

// ---------------------------------------------------------------- entropy and varentropy

#[test]
fn uniform_over_four_is_two_bits_zero_varentropy() {
    let (h, v) = metrics(&[0.0; 4]);
    assert!(close(h, 2.0, 1e-6), "H = {h}");
    assert!(close(v, 0.0, 1e-6), "V = {v}");
    // Shift-invariant, and uniform over 8 is 3 bits.
    let (h, v) = metrics(&[7.25; 4]);
    assert!(close(h, 2.0, 1e-6) && close(v, 0.0, 1e-6));
    let (h, _) = metrics(&[-1.0; 8]);
    assert!(close(h, 3.0, 1e-6));
}

#[test]
fn two_point_distribution_by_hand() {
    // p = (3/4, 1/4): H = 2 − (3/4)·log2 3 = 0.811278…;
    // V = p(1−p)·(log2(p/(1−p)))² = (3/16)·(log2 3)² = 0.471019…
    let (h, v) = metrics(&ln_probs(&[0.75, 0.25]));
    let log2_3 = 3f64.log2();
    let h_hand = 2.0 - 0.75 * log2_3;
    let v_hand = 3.0 / 16.0 * log2_3 * log2_3;
    assert!(close(h, h_hand, 1e-6), "H = {h}, hand {h_hand}");
    assert!(close(v, v_hand, 1e-6), "V = {v}, hand {v_hand}");
    assert!(close(h, 0.811_278_124_459_132_8, 1e-6));
    assert!(close(v, 0.471_019_899_129_798_9, 1e-6));
}

#[test]
fn three_point_distribution_by_hand_and_temperature() {
    // (1/2, 1/4, 1/4): surprisals 1, 2, 2 bits → H = 1.5, V = ½·0.25 + ½·0.25 = 0.25.
    let z = ln_probs(&[0.5, 0.25, 0.25]);
    let (h, v) = metrics(&z);
    assert!(close(h, 1.5, 1e-6) && close(v, 0.25, 1e-6), "{h} {v}");
    // At T = 0.5, p ∝ p² → (2/3, 1/6, 1/6): surprisals log2 3 − 1 and log2 3 + 1, so
    // H = log2 3 − 1/3 and V = (2/3)(1/3)·2² = 8/9.
    let (h, v) = metrics_at(&z, 0.5);
    assert!(close(h, 3f64.log2() - 1.0 / 3.0, 1e-6), "{h}");
    assert!(close(v, 8.0 / 9.0, 1e-6), "{v}");
}

#[test]
fn metrics_match_the_definition_on_128k_logits() {
    let mut g = Gen::new(7);
    for (std, temp) in [
        (1.0, 1.0),
        (3.0, 1.0),
        (6.0, 0.666),
        (0.05, 1.0),
        (12.0, 2.0),
    ] {
        let z = g.logits(128_256, std);
        let (h, v) = metrics_at(&z, temp as f32);
        let (hr, vr) = reference_hv(&z, temp);
        assert!(
            ((h as f64) - hr).abs() <= 1e-5 * hr.max(1.0),
            "std {std}: H {h} vs {hr}"
        );
        assert!(
            ((v as f64) - vr).abs() <= 1e-4 * vr.max(1.0),
            "std {std}: V {v} vs {vr}"
        );
    }
}

#[test]
fn non_finite_logits() {
    // −∞ and NaN carry no mass.
    let (h, v) = metrics(&[0.0, 0.0, f32::NEG_INFINITY, f32::NAN]);
    assert!(close(h, 1.0, 1e-6) && close(v, 0.0, 1e-6));
    // +∞ logits share all the mass.
    let (h, v) = metrics(&[f32::INFINITY, 3.0, f32::INFINITY, 1e30]);
    assert!(close(h, 1.0, 1e-6) && close(v, 0.0, 1e-6));
    // Nothing finite.
    let (h, v) = metrics(&[f32::NEG_INFINITY, f32::NAN]);
    assert!(h.is_nan() && v.is_nan());
    assert!(metrics(&[]).0.is_nan());
    let mut s = Sampler::new(SamplerConfig::new(SamplerKind::Entropix));
    let st = s.step(&[f32::NAN, f32::NAN], Some(1));
    assert_eq!(st.choice, Choice::Token(0));
    assert!(st.entropy.is_nan());
    let st = s.step(&[1.0, f32::INFINITY, 2.0], None);
    assert_eq!(st.choice, Choice::Token(1));
    let st = s.step(&[1.0, f32::NAN, 5.0, f32::NEG_INFINITY], None);
    assert!(matches!(st.choice, Choice::Token(0) | Choice::Token(2)));
}

#[test]
fn fast_exp_is_accurate() {
    let mut worst = 0f64;
    let mut x = -87.0f32;
    while x <= 0.0 {
        let got = exp_f32(x) as f64;
        let want = (x as f64).exp();
        worst = worst.max((got - want).abs() / want);
        x += 0.000_731;
    }
    assert!(worst < 5e-7, "worst relative error {worst}");
    assert_eq!(exp_f32(0.0), 1.0);
    assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
    assert_eq!(exp_f32(-200.0), 0.0);
    assert_eq!(exp_f32(f32::NAN), 0.0);
}

#[test]
fn moments_in_nats() {
    let z = ln_probs(&[0.5, 0.25, 0.25]);
    let m = Moments::compute(&z, z[0], 1.0);
    let ln2 = std::f64::consts::LN_2;
    assert!((m.entropy_nats() - 1.5 * ln2).abs() < 1e-6);
    assert!((m.varentropy_nats() - 0.25 * ln2 * ln2).abs() < 1e-6);
}

// ---------------------------------------------------------------------------- min-p

fn min_p(temp: f32, min_p: f32) -> Filter {
    Filter {
        min_p,
        ..Filter::temp(temp)
    }
}

#[test]
fn min_p_keeps_a_probability_exactly_at_the_cutoff() {
    // p = (0.4, 0.3, 0.2, 0.1), min-p 0.5: cut-off 0.5 · 0.4 = 0.2 → 0.2 is kept, 0.1 is not.
    let z = ln_probs(&[0.4, 0.3, 0.2, 0.1]);
    let k = kept(&z, &min_p(1.0, 0.5));
    assert_eq!(ids(&k), vec![0, 1, 2]);
    // Renormalised over the kept set: 0.4/0.9, 0.3/0.9, 0.2/0.9.
    assert!((k[0].1 - 0.4 / 0.9).abs() < 1e-6 && (k[2].1 - 0.2 / 0.9).abs() < 1e-6);
    // Just under the cut-off is dropped.
    let z = ln_probs(&[0.4, 0.3, 0.1999, 0.1]);
    assert_eq!(ids(&kept(&z, &min_p(1.0, 0.5))), vec![0, 1]);
    // Exactly at the cut-off for several representable ratios.
    for &(r, mp) in &[(0.25, 0.25), (0.125, 0.125), (0.03, 0.03), (0.5, 0.5)] {
        let z = ln_probs(&[1.0, r, r * 0.99]);
        assert_eq!(
            ids(&kept(&z, &min_p(1.0, mp as f32))),
            vec![0, 1],
            "ratio {r}"
        );
    }
}

#[test]
fn min_p_is_applied_after_temperature() {
    let z = ln_probs(&[0.4, 0.3, 0.2, 0.1]);
    // T = 0.5: p ∝ p² = (0.16, 0.09, 0.04, 0.01); min-p 0.25 → cut-off 0.04, kept exactly.
    assert_eq!(ids(&kept(&z, &min_p(0.5, 0.25))), vec![0, 1, 2]);
    // T = 2: p ∝ √p, ratio of the last token √(0.1/0.4) = 0.5 → kept at min-p 0.5 …
    assert_eq!(ids(&kept(&z, &min_p(2.0, 0.5))), vec![0, 1, 2, 3]);
    // … while at T = 1 its ratio is 0.25 → dropped.
    assert_eq!(ids(&kept(&z, &min_p(1.0, 0.5))), vec![0, 1, 2]);
}

// ------------------------------------------------------------------------ top-k, top-p

#[test]
fn top_k_keeps_the_most_probable() {
    let z = [1.0, 5.0, 3.0, 4.0, 2.0];
    let f = Filter {
        top_k: 2,
        ..Filter::temp(1.0)
    };
    assert_eq!(ids(&kept(&z, &f)), vec![1, 3]);
    // Ties: the lower id first.
    let z = [2.0, 2.0, 2.0, 1.0];
    assert_eq!(ids(&kept(&z, &f)), vec![0, 1]);
    // On 128k logits the 27 kept are the 27 largest.
    let z = Gen::new(3).logits(128_256, 2.0);
    let f = Filter {
        top_k: 27,
        ..Filter::temp(0.666)
    };
    let got = ids(&kept(&z, &f));
    let mut order: Vec<u32> = (0..z.len() as u32).collect();
    order.sort_by(|&a, &b| z[b as usize].total_cmp(&z[a as usize]).then(a.cmp(&b)));
    assert_eq!(got, order[..27].to_vec());
}

#[test]
fn top_p_keeps_the_head_not_the_tail() {
    let top_p = |p: f32| Filter {
        top_p: p,
        ..Filter::temp(1.0)
    };
    // p = (0.05, 0.6, 0.1, 0.25): ranked 1, 3, 2, 0.
    let z = ln_probs(&[0.05, 0.6, 0.1, 0.25]);
    assert_eq!(ids(&kept(&z, &top_p(0.5))), vec![1]);
    assert_eq!(ids(&kept(&z, &top_p(0.8))), vec![1, 3]); // 0.6 < 0.8 ≤ 0.85
    assert_eq!(ids(&kept(&z, &top_p(0.9))), vec![1, 3, 2]); // 0.85 < 0.9 ≤ 0.95
    assert_eq!(ids(&kept(&z, &top_p(1.0))), vec![1, 3, 2, 0]);
    // The published code's ascending order would drop one of the two 0.3 tokens here
    // (docs/sampler.md); the stated intent keeps exactly those two.
    let z = ln_probs(&[0.1, 0.3, 0.2, 0.3, 0.1]);
    let k = kept(&z, &top_p(0.5));
    assert_eq!(ids(&k), vec![1, 3]);
    assert!((k[0].1 - 0.5).abs() < 1e-6 && (k[1].1 - 0.5).abs() < 1e-6);
}

#[test]
fn top_p_counts_mass_of_the_full_distribution_with_top_k() {
    // p = (0.4, 0.3, 0.2, 0.1), top-k 3, top-p 0.65: mass before the 3rd is 0.7 ≥ 0.65 →
    // two kept (not renormalised within the top-k first).
    let z = ln_probs(&[0.4, 0.3, 0.2, 0.1]);
    let f = Filter {
        top_k: 3,
        top_p: 0.65,
        ..Filter::temp(1.0)
    };
    assert_eq!(ids(&kept(&z, &f)), vec![0, 1]);
}

/// Brute force in f64: rank, then the shortest prefix of the three rules. None when a
/// boundary is too close to call.
fn reference_kept(z: &[f32], f: &Filter) -> Option<Vec<u32>> {
    let zmax = z.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let s = (f.beta / f.temp) as f64;
    let w: Vec<f64> = z.iter().map(|&x| (s * (x as f64 - zmax)).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut order: Vec<usize> = (0..z.len()).collect();
    order.sort_by(|&a, &b| z[b].total_cmp(&z[a]).then(a.cmp(&b)));
    let mut out = Vec::new();
    let mut before = 0.0;
    for (j, &i) in order.iter().enumerate() {
        let p = w[i] / total;
        let pmax = w[order[0]] / total;
        if f.top_k > 0 && j >= f.top_k {
            break;
        }
        if f.min_p > 0.0 {
            let ratio = p / pmax / f.min_p as f64;
            if (ratio - 1.0).abs() < 1e-4 {
                return None;
            }
            if ratio < 1.0 {
                break;
            }
        }
        if j > 0 && f.top_p < 1.0 {
            let r = before / f.top_p as f64;
            if (r - 1.0).abs() < 1e-4 {
                return None;
            }
            if r >= 1.0 {
                break;
            }
        }
        out.push(i as u32);
        before += p;
    }
    Some(out)
}

#[test]
fn filters_agree_with_brute_force() {
    let mut g = Gen::new(11);
    let mut checked = 0;
    for case in 0..1200 {
        let n = [5usize, 50, 700, 3000][case % 4];
        let std = [0.3, 1.0, 3.0, 8.0][(case / 4) % 4];
        let mut z = g.logits(n, std);
        if case % 7 == 0 {
            // A head of 40 tokens over a broad tail: the top-p boundary falls inside the
            // top-k candidates, where bounds on the normaliser cannot always decide.
            for x in z.iter_mut().take(40) {
                *x += 3.0 + (g.unit() * 2.0) as f32;
            }
        }
        let f = Filter {
            temp: [0.3f32, 0.666, 1.0, 1.7][case % 3],
            beta: [1.0f32, 1.0, 1.4][case % 3],
            top_k: [0usize, 1, 5, 27, 100][case % 5],
            top_p: [1.0f32, 0.9, 0.5, 0.99][(case / 5) % 4],
            min_p: [0.0f32, 0.03, 0.1, 0.5][(case / 3) % 4],
        };
        if let Some(want) = reference_kept(&z, &f) {
            let got = kept(&z, &f);
            assert_eq!(ids(&got), want, "case {case}: {f:?}");
            let sum: f64 = got.iter().map(|k| k.1).sum();
            assert!((sum - 1.0).abs() < 1e-9);
            checked += 1;
        }
    }
    assert!(checked > 1100, "only {checked} cases decided");
}

// ---------------------------------------------------------------- adaptive temperature

#[test]
fn adaptive_beta_never_raises_the_temperature() {
    // β ≥ 1 for every entropy from 0 to 30 nats (past ln 128256 ≈ 11.76).
    let mut h = 0.0f32;
    while h <= 30.0 {
        let b = adaptive_beta(h, 0.5, &POLY);
        assert!(b >= 1.0, "β({h}) = {b}");
        if h <= 0.5 {
            assert_eq!(b, 1.0);
        }
        h += 0.001;
    }
    // By hand: poly(1) = −0.037 + 0.481 − 2.3 + 4.917 − 1.791 = 1.27;
    // poly(2) = −0.592 + 3.848 − 9.2 + 9.834 − 1.791 = 2.099; poly(12) < 0 → 1.
    assert!((adaptive_beta(1.0, 0.5, &POLY) - 1.27).abs() < 1e-5);
    assert!((adaptive_beta(2.0, 0.5, &POLY) - 2.099).abs() < 1e-5);
    assert_eq!(adaptive_beta(12.0, 0.5, &POLY), 1.0);
    assert_eq!(adaptive_beta(0.3, 0.5, &POLY), 1.0);
    assert_eq!(adaptive_beta(f32::NAN, 0.5, &POLY), 1.0);
}

#[test]
fn adaptive_temperature_never_raises_entropy() {
    let mut g = Gen::new(5);
    for case in 0..200 {
        let z = g.logits(1000, [0.2, 1.0, 2.5, 5.0][case % 4]);
        let (h, _) = metrics(&z);
        let h_nats = h * std::f32::consts::LN_2;
        let b = adaptive_beta(h_nats, 0.5, &POLY);
        assert!(b >= 1.0);
        // softmax(β·z) = softmax(z / (1/β)).
        let (h_sharp, _) = metrics_at(&z, 1.0 / b);
        assert!(h_sharp <= h + 1e-5, "H {h} → {h_sharp} at β {b}");
    }
}

// --------------------------------------------------------------------- entropix states

fn entropix() -> Sampler {
    Sampler::new(SamplerConfig::new(SamplerKind::Entropix))
}

/// Logits for "mass `head` on the first `k` tokens, the rest spread over `n − k`".
fn two_level(k: usize, head: f64, n: usize) -> Vec<f32> {
    let mut p = vec![head / k as f64; k];
    p.extend(std::iter::repeat_n((1.0 - head) / (n - k) as f64, n - k));
    ln_probs(&p)
}

#[test]
fn each_entropix_state_from_a_constructed_distribution() {
    let t = Thresholds::default();

    // Argmax: one token, the rest 30 nats below: H ≈ 4e-10, V ≈ 2e-8.
    let mut z = vec![-30.0f32; 100];
    z[17] = 0.0;
    let st = entropix().step(&z, Some(3));
    assert_eq!(st.state, State::Argmax);
    assert_eq!(st.choice, Choice::Token(17));
    assert!(st.entropy < 0.1 && st.varentropy < 0.1);

    // Pause: flat over 64 tokens (H = 6 bits, V = 0), the rest of 1000 at −∞.
    let mut z = vec![f32::NEG_INFINITY; 1000];
    z[..64].fill(1.5);
    let st = entropix().step(&z, Some(999));
    assert_eq!(st.state, State::Pause);
    assert_eq!(st.choice, Choice::Pause(999));
    assert!(close(st.entropy, 6.0, 1e-5) && close(st.varentropy, 0.0, 1e-5));

    // Explore: 0.9 on one token, 0.1 over 999 others: H = 1.46543, V = 15.5258.
    let z = two_level(1, 0.9, 1000);
    let st = entropix().step(&z, Some(999));
    assert_eq!(st.state, State::Explore);
    assert!(
        close(st.entropy, 1.465_429_680_368_518_7, 1e-4),
        "{}",
        st.entropy
    );
    assert!(
        close(st.varentropy, 15.525_804_593_137_297, 1e-3),
        "{}",
        st.varentropy
    );

    // Resample: 0.5 over 2 tokens (2 bits each), 0.5 over 4096 (13 bits each):
    // H = 7.5, V = ½·5.5² + ½·5.5² = 30.25.
    let z = two_level(2, 0.5, 4098);
    let st = entropix().step(&z, Some(999));
    assert_eq!(st.state, State::Resample);
    assert!(close(st.entropy, 7.5, 1e-4) && close(st.varentropy, 30.25, 1e-3));

    // Blend: uniform over 4 (H = 2, V = 0), between the entropy thresholds.
    let st = entropix().step(&[0.0; 4], Some(3));
    assert_eq!(st.state, State::Blend);

    // The classifier itself at the thresholds.
    assert_eq!(classify(0.05, 0.05, &t), State::Argmax);
    assert_eq!(classify(5.5, 0.05, &t), State::Pause);
    assert_eq!(classify(1.0, 6.0, &t), State::Explore);
    assert_eq!(classify(5.0, 6.0, &t), State::Resample);
    assert_eq!(classify(2.0, 1.0, &t), State::Blend);
    assert_eq!(classify(0.05, 1.0, &t), State::Blend);
    assert_eq!(classify(f32::NAN, f32::NAN, &t), State::Blend);
    // Thresholds are parameters.
    let t2 = Thresholds {
        ent_low: 2.5,
        vent_low: 0.5,
        ..t
    };
    assert_eq!(classify(2.0, 0.0, &t2), State::Argmax);
}

#[test]
fn low_entropy_high_varentropy_needs_a_huge_vocabulary() {
    // docs/sampler.md: with H < 0.1 bit, V ≤ E[s²] < 0.1·40 + n·40²·2^−40 < 5 for n < 2^29, so
    // "explore" tests H < ent_high as the published code does. Check it on the extreme
    // shapes: one head token, tail mass q spread evenly over m tokens.
    for &n in &[32_000usize, 128_256, 262_144] {
        let mut q = 1e-15f64;
        while q < 0.05 {
            for &m in &[1usize, 10, 1000, n - 1] {
                let head = 1.0 - q;
                let tail = q / m as f64;
                let s_head = -head.log2();
                let s_tail = -tail.log2();
                let h = head * s_head + q * s_tail;
                let v = head * (s_head - h).powi(2) + q * (s_tail - h).powi(2);
                if h < 0.1 {
                    assert!(v < 5.0, "n {n} q {q} m {m}: H {h} V {v}");
                }
            }
            q *= 1.1;
        }
    }
}

#[test]
fn state_adjustments_raise_temperature_and_top_k() {
    use tokenaudit::sampler::entropix::{state_filter, EntropixParams};
    let p = EntropixParams::default();
    let base = SamplerConfig::default().base_filter();
    let e = state_filter(State::Explore, &base, 1.0, 6.0, &p);
    assert!(e.temp > base.temp && e.top_k > base.top_k);
    assert!((e.temp - 0.666 * 1.2).abs() < 1e-6 && e.top_k == 40);
    let r = state_filter(State::Resample, &base, 6.0, 6.0, &p);
    assert!(r.temp >= 2.0);
    let a = state_filter(State::Argmax, &base, 0.0, 0.0, &p);
    assert!(a.is_greedy());
    let b = state_filter(State::Blend, &base, 1.0, 1.0, &p);
    assert!((b.temp - 0.666 * 1.6).abs() < 1e-5);
    assert!((b.min_p - 0.01).abs() < 1e-7); // 0.03 · (1 − 0.5·2) = 0 → clamped to 0.01
}

#[test]
fn explore_samples_beyond_the_base_top_k() {
    // 0.9 on token 0, 0.1 flat over 999: every tail token ties, so top-k picks the lowest ids.
    // Explore raises top-k from 27 to 40: tokens 27..39 can appear, 40+ never. (Min-p and
    // top-p off, T 1.25 → 1.5 in explore, so the tail is drawn often enough to see.)
    let z = two_level(1, 0.9, 1000);
    let mut s = Sampler::new(SamplerConfig {
        temp: 1.25,
        min_p: 0.0,
        top_p: 1.0,
        ..SamplerConfig::new(SamplerKind::Entropix)
    });
    let mut seen = HashSet::new();
    for _ in 0..4000 {
        let st = s.step(&z, None);
        assert_eq!(st.state, State::Explore);
        seen.insert(st.choice.id());
    }
    assert!(seen.iter().all(|&id| id < 40), "{seen:?}");
    assert!(seen.iter().any(|&id| (27..40).contains(&id)));
}

// ---------------------------------------------------------------------------- pauses

fn pause_logits() -> Vec<f32> {
    let mut z = vec![f32::NEG_INFINITY; 500];
    z[100..200].fill(0.0); // H = log2 100 = 6.64, V = 0
    z
}

#[test]
fn pause_is_inserted_once_then_generation_continues() {
    let z = pause_logits();
    let mut s = entropix();
    assert_eq!(s.step(&z, Some(7)).choice, Choice::Pause(7));
    // Same state on the next step: no pause twice in a row, a token from the flat set.
    let st = s.step(&z, Some(7));
    assert_eq!(st.state, State::Pause);
    let id = match st.choice {
        Choice::Token(id) => id,
        Choice::Pause(_) => panic!("two pauses in a row"),
    };
    assert!((100..200).contains(&id));
    // Published spacing (2): the step after that may pause again.
    assert!(s.step(&z, Some(7)).choice.is_pause());
    // Without a pause token the state still reads Pause but a token is sampled.
    let mut s = entropix();
    for _ in 0..10 {
        let st = s.step(&z, None);
        assert_eq!(st.state, State::Pause);
        assert!(!st.choice.is_pause());
    }
    // Other kinds never pause.
    for kind in [
        SamplerKind::Greedy,
        SamplerKind::Temp,
        SamplerKind::MinP,
        SamplerKind::Adaptive,
    ] {
        let mut s = Sampler::new(SamplerConfig::new(kind));
        let st = s.step(&z, Some(7));
        assert!(!st.choice.is_pause());
        assert_eq!(st.state, State::Plain);
    }
}

#[test]
fn pause_at_most_once_per_n_steps() {
    let z = pause_logits();
    for every in [2usize, 3, 5, 16] {
        let cfg = SamplerConfig {
            pause_every: every,
            ..SamplerConfig::new(SamplerKind::Entropix)
        };
        let mut s = Sampler::new(cfg);
        let pauses: Vec<usize> = (0..100)
            .filter(|_| s.step(&z, Some(7)).choice.is_pause())
            .collect();
        // Always in the pause state, so a pause exactly every `every` steps.
        let want: Vec<usize> = (0..100).step_by(every).collect();
        assert_eq!(pauses, want, "every {every}");
        // reset forgets the last pause.
        s.reset();
        assert!(s.step(&z, Some(7)).choice.is_pause());
    }
    // 0 and 1 count as 2: never two in a row.
    let cfg = SamplerConfig {
        pause_every: 0,
        ..SamplerConfig::new(SamplerKind::Entropix)
    };
    let mut s = Sampler::new(cfg);
    let seq: Vec<bool> = (0..6)
        .map(|_| s.step(&z, Some(7)).choice.is_pause())
        .collect();
    assert_eq!(seq, vec![true, false, true, false, true, false]);
}

#[test]
fn pause_token_range_check() {
    assert!(check_pause_token(31_999, 32_000).is_ok());
    let e = check_pause_token(32_000, 32_000).unwrap_err();
    assert!(e.contains("outside the vocabulary"), "{e}");
}

// ------------------------------------------------------------ sampling and greedy

#[test]
fn draws_follow_the_tempered_distribution() {
    let z = ln_probs(&[0.5, 0.3, 0.2]);
    for (temp, want) in [
        (1.0f32, [0.5, 0.3, 0.2]),
        (0.5, [0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38]),
    ] {
        let cfg = SamplerConfig {
            temp,
            top_k: 0,
            top_p: 1.0,
            ..SamplerConfig::new(SamplerKind::Temp)
        };
        let mut s = Sampler::new(cfg);
        let n = 40_000;
        let mut counts = [0usize; 3];
        for _ in 0..n {
            counts[s.step(&z, None).choice.id() as usize] += 1;
        }
        for i in 0..3 {
            let f = counts[i] as f64 / n as f64;
            assert!(
                (f - want[i]).abs() < 0.012,
                "T {temp}: token {i} {f} vs {}",
                want[i]
            );
        }
    }
}

#[test]
fn min_p_sampler_never_draws_a_dropped_token() {
    // p = (0.4, 0.3, 0.2, 0.1) at T = 1, min-p 0.3 → cut 0.12: token 3 never drawn.
    let z = ln_probs(&[0.4, 0.3, 0.2, 0.1]);
    let cfg = SamplerConfig {
        temp: 1.0,
        min_p: 0.3,
        ..SamplerConfig::new(SamplerKind::MinP)
    };
    let mut s = Sampler::new(cfg);
    let seen: HashSet<u32> = (0..5000).map(|_| s.step(&z, None).choice.id()).collect();
    assert_eq!(seen, HashSet::from([0, 1, 2]));
}

#[test]
fn greedy_takes_the_first_maximum_without_randomness() {
    let z = [0.5, 2.0, -1.0, 2.0];
    for seed in [0u64, 1, 42] {
        let cfg = SamplerConfig {
            seed,
            ..SamplerConfig::new(SamplerKind::Greedy)
        };
        let mut s = Sampler::new(cfg);
        for _ in 0..5 {
            let st = s.step(&z, Some(0));
            assert_eq!(st.choice, Choice::Token(1));
            assert_eq!(st.state, State::Plain);
        }
    }
    // T = 0 makes any kind greedy.
    for kind in SamplerKind::ALL {
        let cfg = SamplerConfig {
            temp: 0.0,
            ..SamplerConfig::new(kind)
        };
        assert_eq!(
            Sampler::new(cfg).step(&z, None).choice,
            Choice::Token(1),
            "{kind}"
        );
    }
}

// ------------------------------------------------------------------------ determinism

/// Varied rows: spiky, flat over a subset (pause), two-level (explore/resample), normal.
fn varied_rows(n_rows: usize, vocab: usize) -> Vec<Vec<f32>> {
    let mut g = Gen::new(2024);
    (0..n_rows)
        .map(|t| match t % 6 {
            0 => {
                let mut z = g.logits(vocab, 1.0);
                z[t % vocab] += 40.0;
                z
            }
            1 => {
                let mut z = vec![f32::NEG_INFINITY; vocab];
                for x in z.iter_mut().take(40 + t % 50) {
                    *x = (g.normal() * 1e-3) as f32;
                }
                z
            }
            2 => two_level(1 + t % 3, 0.9, vocab),
            3 => two_level(2, 0.5, vocab),
            4 => g.logits(vocab, 0.5 + (t % 7) as f64),
            _ => ln_probs(&[0.5, 0.2, 0.2, 0.1]),
        })
        .collect()
}

fn run(kind: SamplerKind, seed: u64, rows: &[Vec<f32>]) -> Vec<Step> {
    let cfg = SamplerConfig {
        seed,
        ..SamplerConfig::new(kind)
    };
    let mut s = Sampler::new(cfg);
    rows.iter().map(|z| s.step(z, Some(5))).collect()
}

fn same_bits(a: &[Step], b: &[Step]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.choice == y.choice
                && x.state == y.state
                && x.entropy.to_bits() == y.entropy.to_bits()
                && x.varentropy.to_bits() == y.varentropy.to_bits()
        })
}

#[test]
fn same_seed_same_sequence_over_1000_steps() {
    let rows = varied_rows(1000, 4096);
    for kind in SamplerKind::ALL {
        let a = run(kind, 99, &rows);
        let b = run(kind, 99, &rows);
        assert!(same_bits(&a, &b), "{kind}: two runs differ");
        if kind != SamplerKind::Greedy {
            let c = run(kind, 100, &rows);
            assert!(
                a.iter().zip(&c).any(|(x, y)| x.choice != y.choice),
                "{kind}: another seed gave the same 1000 choices"
            );
        }
        // reset() replays the sequence.
        let mut s = Sampler::new(SamplerConfig {
            seed: 99,
            ..SamplerConfig::new(kind)
        });
        for z in &rows[..100] {
            s.step(z, Some(5));
        }
        s.reset();
        let replay: Vec<Step> = rows.iter().map(|z| s.step(z, Some(5))).collect();
        assert!(same_bits(&a, &replay), "{kind}: reset does not replay");
    }
    // The entropix run visits every state.
    let states: HashSet<State> = run(SamplerKind::Entropix, 99, &rows)
        .iter()
        .map(|s| s.state)
        .collect();
    for st in [
        State::Argmax,
        State::Pause,
        State::Explore,
        State::Resample,
        State::Blend,
    ] {
        assert!(states.contains(&st), "{st} never reached: {states:?}");
    }
}

#[test]
fn same_sequence_in_thread_pools_of_one_and_two() {
    let rows = varied_rows(1000, 4096);
    for kind in SamplerKind::ALL {
        let plain = run(kind, 7, &rows);
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let inside = pool.install(|| run(kind, 7, &rows));
            assert!(same_bits(&plain, &inside), "{kind}: {threads} thread(s)");
            // Several sequences sampled in parallel, one sampler each.
            let par: Vec<Vec<Step>> = pool.install(|| {
                use rayon::prelude::*;
                (0..4u64)
                    .into_par_iter()
                    .map(|i| run(kind, 7 + i, &rows[..250]))
                    .collect()
            });
            for (i, got) in par.iter().enumerate() {
                let want = run(kind, 7 + i as u64, &rows[..250]);
                assert!(same_bits(got, &want), "{kind}: parallel sequence {i}");
            }
        }
    }
}

#[test]
fn same_sequence_on_128k_logits() {
    let mut g = Gen::new(77);
    let rows: Vec<Vec<f32>> = (0..40)
        .map(|t| g.logits(128_256, 1.0 + t as f64 * 0.3))
        .collect();
    for kind in SamplerKind::ALL {
        let a = run(kind, 1, &rows);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let b = pool.install(|| run(kind, 1, &rows));
        assert!(same_bits(&a, &b), "{kind}");
    }
}

#[test]
fn rng_reference_vectors() {
    // splitmix64, seed 1234567 (Vigna's reference output).
    let mut sm = SplitMix64::new(1_234_567);
    let want = [
        6_457_827_717_110_365_317u64,
        3_203_168_211_198_807_973,
        9_817_491_932_198_370_423,
        4_593_380_528_125_082_431,
        16_408_922_859_458_223_821,
    ];
    for w in want {
        assert_eq!(sm.next_u64(), w);
    }
    // xoshiro256** from state (1, 2, 3, 4), checked against an independent implementation.
    let mut x = Xoshiro256::from_state([1, 2, 3, 4]);
    let want = [
        11_520u64,
        0,
        1_509_978_240,
        1_215_971_899_390_074_240,
        1_216_172_134_540_287_360,
        607_988_272_756_665_600,
    ];
    for w in want {
        assert_eq!(x.next_u64(), w);
    }
    let mut x = Xoshiro256::seed_from_u64(1337);
    assert_eq!(x.next_u64(), 12_468_955_128_717_782_748);
    let mut x = Xoshiro256::seed_from_u64(9);
    for _ in 0..10_000 {
        let u = x.next_f64();
        assert!((0.0..1.0).contains(&u));
    }
}

// -------------------------------------------------------------------- config and flags

#[test]
fn kinds_parse_and_print() {
    for kind in SamplerKind::ALL {
        assert_eq!(kind.to_string().parse::<SamplerKind>().unwrap(), kind);
    }
    assert_eq!("min_p".parse::<SamplerKind>().unwrap(), SamplerKind::MinP);
    assert_eq!(
        " Entropix ".parse::<SamplerKind>().unwrap(),
        SamplerKind::Entropix
    );
    let e = "nucleus".parse::<SamplerKind>().unwrap_err();
    assert!(
        e.contains("greedy, temp, min-p, adaptive or entropix"),
        "{e}"
    );
}

#[test]
fn published_defaults() {
    let c = SamplerConfig::default();
    assert_eq!((c.temp, c.top_k, c.top_p, c.min_p), (0.666, 27, 0.9, 0.03));
    let t = c.thresholds;
    assert_eq!(
        (t.ent_low, t.ent_high, t.vent_low, t.vent_high),
        (0.1, 5.0, 0.1, 5.0)
    );
    assert_eq!(c.adaptive.poly, POLY);
    assert!(c.validate().is_ok());
}

#[test]
fn warnings_for_contradictory_flags() {
    for kind in SamplerKind::ALL {
        assert!(warnings(&SamplerConfig::new(kind)).is_empty(), "{kind}");
    }
    let greedy_hot = SamplerConfig {
        temp: 0.7,
        ..SamplerConfig::new(SamplerKind::Greedy)
    };
    let w = warnings(&greedy_hot);
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains("--sampler greedy ignores --temp 0.7"),
        "{w:?}"
    );
    let temp_minp = SamplerConfig {
        min_p: 0.1,
        ..SamplerConfig::new(SamplerKind::Temp)
    };
    assert!(warnings(&temp_minp)[0].contains("--min-p"));
    let minp_topk = SamplerConfig {
        top_k: 40,
        ..SamplerConfig::new(SamplerKind::MinP)
    };
    assert!(warnings(&minp_topk)[0].contains("--top-k"));
    let cold = SamplerConfig {
        temp: 0.0,
        ..SamplerConfig::new(SamplerKind::Entropix)
    };
    assert!(warnings(&cold)[0].contains("greedy"));
    let bad = SamplerConfig {
        top_p: 1.5,
        min_p: -0.1,
        ..SamplerConfig::default()
    };
    let e = bad.validate().unwrap_err();
    assert!(e.contains("--top-p") && e.contains("--min-p"), "{e}");
    let mut swapped = SamplerConfig::default();
    swapped.thresholds.ent_low = 6.0;
    assert!(swapped.validate().is_err());
}

#[test]
fn simd_and_portable_loops_give_the_same_bits() {
    use tokenaudit::sampler::metrics::{max_logit, sum_exp, sum_exp_portable, uses_avx2};
    let mut g = Gen::new(31);
    for &n in &[1usize, 7, 77, 1001, 32_000, 128_256] {
        for &std in &[0.1, 2.3, 9.0] {
            let mut z = g.logits(n, std);
            if n > 10 {
                z[3] = f32::NEG_INFINITY;
                z[5] = f32::NAN;
            }
            let (m, _) = max_logit(&z).unwrap();
            for &s in &[1.0f32, 1.5, 0.5] {
                let a = Moments::compute(&z, m, s);
                let b = Moments::compute_portable(&z, m, s);
                assert_eq!(
                    (a.s0.to_bits(), a.s1.to_bits(), a.s2.to_bits()),
                    (b.s0.to_bits(), b.s1.to_bits(), b.s2.to_bits()),
                    "n {n} std {std} s {s} (avx2: {})",
                    uses_avx2()
                );
                assert_eq!(
                    sum_exp(&z, m, s).to_bits(),
                    sum_exp_portable(&z, m, s).to_bits()
                );
            }
        }
    }
}

/// `tokenaudit sample` (the inspector) gives, id for id, what the definitions give: a flag
/// not given is off; top-p keeps a token while the mass ranked above it is below p;
/// temperature rescales the logits; bad input is one clear line.
#[test]
fn sample_inspector_applies_the_chain_as_defined() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
            .arg("sample")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let probs = |args: &[&str]| -> Vec<f64> {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(0), "{err}");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        v["probs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let close = |a: &[f64], b: &[f64]| {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    };
    // No flag: the distribution itself.
    close(
        &probs(&["--probs", "0.5,0.3,0.2", "--json"]),
        &[0.5, 0.3, 0.2],
    );
    // top-p 0.8: 0.5 (mass above 0) and 0.3 (0.5 < 0.8) kept, 0.2 (0.8 not < 0.8) not.
    close(
        &probs(&["--probs", "0.5,0.3,0.2", "--top-p", "0.8", "--json"]),
        &[0.625, 0.375, 0.0],
    );
    // T = 0.5 squares and renormalises: 0.25, 0.09, 0.04 over 0.38.
    close(
        &probs(&["--probs", "0.5,0.3,0.2", "--temp", "0.5", "--json"]),
        &[0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38],
    );
    // Greedy, and logits with a tie (lower id wins).
    close(
        &probs(&["--logits", "1,3,3,-2", "--temp", "0", "--json"]),
        &[0.0, 1.0, 0.0, 0.0],
    );
    for (args, want) in [
        (&["--probs", "0.5,0.6"][..], "sum to 1.1"),
        (&["--probs", "0.5,-0.5,1"][..], "not in [0, 1]"),
        (&["--logits", "1,nan"][..], "value 1 is NaN"),
        (
            &["--probs", "1", "--top-p", "0"][..],
            "--top-p must be in (0, 1]",
        ),
        (&[][..], "give the distribution"),
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

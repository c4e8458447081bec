//! Entropix-style states from the entropy H (bits) and varentropy V (bits²) of the model's
//! next-token distribution softmax(z) (xjdr-alt/entropix; docs/sampler.md, "Entropix
//! states").
//!
//! | state | condition (defaults) | action |
//! |---|---|---|
//! | `Argmax` | H < 0.1 and V < 0.1 | take the most probable token |
//! | `Pause` | H > 5.0 and V < 0.1 | insert the pause token once, then sample a little hotter |
//! | `Explore` | H < 5.0 and V > 5.0 | raise the temperature and top-k |
//! | `Resample` | H ≥ 5.0 and V > 5.0 | resample with a high temperature |
//! | `Blend` | anything else | temperature and min-p from H + V, best of n draws |
//!
//! "Explore" is "low entropy, high varentropy" but tests H < `ent_high`, as the published
//! code does: with H < 0.1 bits, V > 5 bits² cannot happen in any vocabulary under 2^29
//! tokens (docs/sampler.md), so the literal reading would make the state unreachable.

use std::fmt;

use super::filters::Filter;

/// Which part of the (H, V) plane a step fell in. `Plain` for the non-entropix samplers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Plain,
    Argmax,
    Pause,
    Explore,
    Resample,
    Blend,
}

impl State {
    /// The name in the trace CSV.
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Plain => "plain",
            State::Argmax => "argmax",
            State::Pause => "pause",
            State::Explore => "explore",
            State::Resample => "resample",
            State::Blend => "blend",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state thresholds (bits and bits²).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub ent_low: f32,
    pub ent_high: f32,
    pub vent_low: f32,
    pub vent_high: f32,
}

impl Default for Thresholds {
    /// Published: H low 0.1 / high 5.0 bits, V low 0.1 / high 5.0.
    fn default() -> Self {
        Self {
            ent_low: 0.1,
            ent_high: 5.0,
            vent_low: 0.1,
            vent_high: 5.0,
        }
    }
}

/// The state for entropy `h` (bits) and varentropy `v` (bits²). NaN falls to `Blend`.
pub fn classify(h: f32, v: f32, t: &Thresholds) -> State {
    if h < t.ent_low && v < t.vent_low {
        State::Argmax
    } else if h > t.ent_high && v < t.vent_low {
        State::Pause
    } else if h < t.ent_high && v > t.vent_high {
        State::Explore
    } else if h >= t.ent_high && v > t.vent_high {
        State::Resample
    } else {
        State::Blend
    }
}

/// How each state changes the base filter. Defaults are the published coefficients with the
/// attention terms (attention entropy, agreement, interaction strength) at zero: the sampler
/// sees logits only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntropixParams {
    /// Pause state when no pause is inserted: T' = min(T · mult, max). Published 1.3, 1.5.
    pub pause_temp_mult: f32,
    pub pause_temp_max: f32,
    /// Explore: T' = min(T · mult, max), k' = max(⌊k · top_k_mult⌋, top_k_min).
    /// Published 1.2, 1.5, 1.5, 5.
    pub explore_temp_mult: f32,
    pub explore_temp_max: f32,
    pub explore_top_k_mult: f32,
    pub explore_top_k_min: usize,
    /// Resample: T' = max(T · mult, min). Published 2.0, 2.0.
    pub resample_temp_mult: f32,
    pub resample_temp_min: f32,
    /// Blend: T' = T · (1 + temp_coef · (H + V)), min-p' = clamp(min_p · (1 − min_p_coef ·
    /// (H + V)), lo, hi), k' = clamp(k, 1, top_k_max), best of `samples` draws by the model's
    /// log-probability. Published 0.3, 0.5, 0.01, 0.5, 100, 5.
    pub blend_temp_coef: f32,
    pub blend_min_p_coef: f32,
    pub blend_min_p_lo: f32,
    pub blend_min_p_hi: f32,
    pub blend_top_k_max: usize,
    pub blend_samples: usize,
}

impl Default for EntropixParams {
    fn default() -> Self {
        Self {
            pause_temp_mult: 1.3,
            pause_temp_max: 1.5,
            explore_temp_mult: 1.2,
            explore_temp_max: 1.5,
            explore_top_k_mult: 1.5,
            explore_top_k_min: 5,
            resample_temp_mult: 2.0,
            resample_temp_min: 2.0,
            blend_temp_coef: 0.3,
            blend_min_p_coef: 0.5,
            blend_min_p_lo: 0.01,
            blend_min_p_hi: 0.5,
            blend_top_k_max: 100,
            blend_samples: 5,
        }
    }
}

/// The filter a sampling state uses, from the base filter (T, top-k, top-p, min-p) and H, V.
/// `Argmax` gives a greedy filter. `Pause` is the filter used when no pause is inserted.
pub fn state_filter(state: State, base: &Filter, h: f32, v: f32, p: &EntropixParams) -> Filter {
    let mut f = *base;
    if base.is_greedy() {
        // T = 0 (or top-k 1) means greedy in every state.
        return f;
    }
    match state {
        State::Plain => {}
        State::Argmax => f.temp = 0.0,
        State::Pause => f.temp = (base.temp * p.pause_temp_mult).min(p.pause_temp_max),
        State::Explore => {
            f.temp = (base.temp * p.explore_temp_mult).min(p.explore_temp_max);
            if base.top_k > 0 {
                let k = (base.top_k as f64 * p.explore_top_k_mult as f64).floor() as usize;
                f.top_k = k.max(p.explore_top_k_min);
            }
        }
        State::Resample => {
            f.temp = (base.temp * p.resample_temp_mult).max(p.resample_temp_min);
        }
        State::Blend => {
            let u = h + v;
            f.temp = base.temp * (1.0 + p.blend_temp_coef * u);
            if base.min_p > 0.0 {
                // max/min rather than clamp: no panic on a mis-ordered lo/hi.
                f.min_p = (base.min_p * (1.0 - p.blend_min_p_coef * u))
                    .max(p.blend_min_p_lo)
                    .min(p.blend_min_p_hi);
            }
            if base.top_k > 0 {
                f.top_k = base.top_k.clamp(1, p.blend_top_k_max.max(1));
            }
        }
    }
    f
}

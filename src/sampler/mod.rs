//! Token samplers (docs/sampler.md): greedy, temperature with top-k/top-p, min-p, adaptive
//! temperature, and entropix-style states from entropy and varentropy with pause insertion.
//!
//! ```
//! use tokenaudit::sampler::{Choice, Sampler, SamplerConfig, SamplerKind};
//!
//! let mut s = Sampler::new(SamplerConfig::new(SamplerKind::Entropix));
//! let logits = vec![0.0f32; 64]; // flat over 64 tokens: H = 6 bits, V = 0 → pause state
//! let step = s.step(&logits, Some(7));
//! assert_eq!(step.choice, Choice::Pause(7));
//! // The caller appends 7 to the context and asks again: no second pause in a row.
//! let step = s.step(&logits, Some(7));
//! assert!(matches!(step.choice, Choice::Token(_)));
//! ```
//!
//! Every random choice comes from one seeded [`rng::Xoshiro256`] stream, drawn sequentially
//! in the calling thread: the same seed and logits give the same tokens bit for bit, whatever
//! thread pool the caller runs in. The module's differences from the published entropix code
//! are listed in docs/sampler.md.

pub mod entropix;
pub mod filters;
pub mod inspect;
pub mod metrics;
pub mod rng;

use std::fmt;
use std::str::FromStr;

pub use entropix::{classify, EntropixParams, State, Thresholds};
pub use filters::{adaptive_beta, kept, Filter};
pub use metrics::{metrics, metrics_at};

use filters::Scratch;
use metrics::Moments;
use rng::Xoshiro256;

/// Which sampler `generate` / `eval` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SamplerKind {
    /// Most probable token (ties: lowest id). No randomness.
    Greedy,
    /// softmax(z / T), then top-k and top-p.
    Temp,
    /// softmax(z / T), then min-p.
    MinP,
    /// Adaptive temperature β(H) (sharpening only), then T, top-k, top-p and min-p.
    Adaptive,
    /// Entropix states from entropy and varentropy, pause insertion.
    Entropix,
}

impl SamplerKind {
    /// Every kind, in the order help and errors list them.
    pub const ALL: [SamplerKind; 5] = [
        SamplerKind::Greedy,
        SamplerKind::Temp,
        SamplerKind::MinP,
        SamplerKind::Adaptive,
        SamplerKind::Entropix,
    ];

    /// The name `--sampler` takes and output shows.
    pub fn as_str(&self) -> &'static str {
        match self {
            SamplerKind::Greedy => "greedy",
            SamplerKind::Temp => "temp",
            SamplerKind::MinP => "min-p",
            SamplerKind::Adaptive => "adaptive",
            SamplerKind::Entropix => "entropix",
        }
    }
}

impl fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SamplerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "greedy" | "argmax" => Ok(SamplerKind::Greedy),
            "temp" | "temperature" => Ok(SamplerKind::Temp),
            "min-p" | "min_p" | "minp" => Ok(SamplerKind::MinP),
            "adaptive" => Ok(SamplerKind::Adaptive),
            "entropix" => Ok(SamplerKind::Entropix),
            other => Err(format!(
                "unknown sampler '{other}' (expected greedy, temp, min-p, adaptive or entropix)"
            )),
        }
    }
}

/// Adaptive temperature: β = max(poly(H), 1) when H (nats) > `ent_min_nats`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveParams {
    /// Published 0.5 nats.
    pub ent_min_nats: f32,
    /// poly(H) = c0·H⁴ + c1·H³ + c2·H² + c3·H + c4. Published [−0.037, 0.481, −2.3, 4.917, −1.791].
    pub poly: [f32; 5],
}

impl Default for AdaptiveParams {
    fn default() -> Self {
        Self {
            ent_min_nats: 0.5,
            poly: [-0.037, 0.481, -2.3, 4.917, -1.791],
        }
    }
}

/// Everything a [`Sampler`] needs. `Default` holds the published defaults (entropix:
/// T 0.666, top-p 0.9, top-k 27, min-p 0.03, seed 1337).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    pub kind: SamplerKind,
    /// Temperature; 0 makes every kind greedy.
    pub temp: f32,
    /// 0 = off.
    pub top_k: usize,
    /// 1 = off.
    pub top_p: f32,
    /// 0 = off. Kept: p ≥ min_p · max p after temperature.
    pub min_p: f32,
    pub seed: u64,
    /// Entropix state thresholds (bits, bits²).
    pub thresholds: Thresholds,
    /// At most one pause in any `pause_every` consecutive steps (values below 2 count as 2:
    /// never two pauses in a row). Published behaviour: 2.
    pub pause_every: usize,
    pub adaptive: AdaptiveParams,
    pub entropix: EntropixParams,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            kind: SamplerKind::Entropix,
            temp: 0.666,
            top_k: 27,
            top_p: 0.9,
            min_p: 0.03,
            seed: 1337,
            thresholds: Thresholds::default(),
            pause_every: 2,
            adaptive: AdaptiveParams::default(),
            entropix: EntropixParams::default(),
        }
    }
}

impl SamplerConfig {
    /// Published defaults with another kind.
    pub fn new(kind: SamplerKind) -> Self {
        Self {
            kind,
            ..Self::default()
        }
    }

    /// The filter the kind applies before β (adaptive) or the state adjustments (entropix).
    pub fn base_filter(&self) -> Filter {
        let all = Filter {
            temp: self.temp,
            beta: 1.0,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
        };
        match self.kind {
            SamplerKind::Greedy => Filter::temp(0.0),
            SamplerKind::Temp => Filter { min_p: 0.0, ..all },
            SamplerKind::MinP => Filter {
                top_k: 0,
                top_p: 1.0,
                ..all
            },
            SamplerKind::Adaptive | SamplerKind::Entropix => all,
        }
    }

    /// Hard errors: values no sampler can use.
    pub fn validate(&self) -> Result<(), String> {
        let mut errs = Vec::new();
        if !(self.temp.is_finite() && self.temp >= 0.0) {
            errs.push(format!("--temp must be ≥ 0, got {}", self.temp));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            errs.push(format!("--top-p must be in (0, 1], got {}", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            errs.push(format!("--min-p must be in [0, 1], got {}", self.min_p));
        }
        let t = &self.thresholds;
        let all = [t.ent_low, t.ent_high, t.vent_low, t.vent_high];
        if all.iter().any(|x| !x.is_finite() || *x < 0.0) {
            errs.push("entropix thresholds must be finite and ≥ 0".to_string());
        } else {
            if t.ent_low > t.ent_high {
                errs.push(format!(
                    "entropy thresholds: low {} above high {}",
                    t.ent_low, t.ent_high
                ));
            }
            if t.vent_low > t.vent_high {
                errs.push(format!(
                    "varentropy thresholds: low {} above high {}",
                    t.vent_low, t.vent_high
                ));
            }
        }
        let e = &self.entropix;
        let factors = [
            e.pause_temp_mult,
            e.pause_temp_max,
            e.explore_temp_mult,
            e.explore_temp_max,
            e.explore_top_k_mult,
            e.resample_temp_mult,
            e.resample_temp_min,
            e.blend_temp_coef,
            e.blend_min_p_coef,
            e.blend_min_p_lo,
            e.blend_min_p_hi,
        ];
        if factors.iter().any(|x| !x.is_finite() || *x < 0.0) {
            errs.push("entropix state parameters must be finite and ≥ 0".to_string());
        }
        if e.blend_min_p_lo > e.blend_min_p_hi {
            errs.push("entropix blend min-p: lo above hi".to_string());
        }
        let a = &self.adaptive;
        if !a.ent_min_nats.is_finite() || a.poly.iter().any(|c| !c.is_finite()) {
            errs.push("adaptive temperature parameters must be finite".to_string());
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs.join("; "))
        }
    }
}

/// Soft problems with a configuration, for the CLI to print: flags the chosen sampler
/// ignores or that change its nature (e.g. `--sampler greedy --temp 0.7`). A flag counts as
/// given when its value differs from the default.
pub fn warnings(cfg: &SamplerConfig) -> Vec<String> {
    let d = SamplerConfig::default();
    let kind = cfg.kind;
    let mut w = Vec::new();
    let ignored = |flag: &str, value: String, why: &str| {
        format!("--sampler {kind} ignores {flag} {value} ({why})")
    };
    match kind {
        SamplerKind::Greedy => {
            let why = "greedy always takes the most probable token";
            if cfg.temp != d.temp {
                w.push(ignored("--temp", cfg.temp.to_string(), why));
            }
            if cfg.top_k != d.top_k {
                w.push(ignored("--top-k", cfg.top_k.to_string(), why));
            }
            if cfg.top_p != d.top_p {
                w.push(ignored("--top-p", cfg.top_p.to_string(), why));
            }
            if cfg.min_p != d.min_p {
                w.push(ignored("--min-p", cfg.min_p.to_string(), why));
            }
            if cfg.seed != d.seed {
                w.push(ignored("--seed", cfg.seed.to_string(), why));
            }
        }
        SamplerKind::Temp => {
            if cfg.min_p != d.min_p && cfg.min_p > 0.0 {
                w.push(ignored(
                    "--min-p",
                    cfg.min_p.to_string(),
                    "use --sampler min-p, adaptive or entropix",
                ));
            }
        }
        SamplerKind::MinP => {
            let why = "min-p uses the temperature and min-p only";
            if cfg.top_k != d.top_k && cfg.top_k > 0 {
                w.push(ignored("--top-k", cfg.top_k.to_string(), why));
            }
            if cfg.top_p != d.top_p && cfg.top_p < 1.0 {
                w.push(ignored("--top-p", cfg.top_p.to_string(), why));
            }
            if cfg.min_p <= 0.0 {
                w.push("--min-p 0 turns the min-p sampler into plain temperature sampling".into());
            }
        }
        SamplerKind::Adaptive | SamplerKind::Entropix => {}
    }
    if kind != SamplerKind::Greedy {
        if cfg.temp <= 0.0 {
            w.push(format!("--temp 0 makes --sampler {kind} greedy"));
        } else if cfg.top_k == 1 && kind != SamplerKind::MinP {
            w.push(format!("--top-k 1 makes --sampler {kind} greedy"));
        }
    }
    if kind != SamplerKind::Entropix {
        if cfg.thresholds != d.thresholds || cfg.entropix != d.entropix {
            w.push(format!(
                "--sampler {kind} ignores the entropix thresholds and state parameters"
            ));
        }
        if cfg.pause_every != d.pause_every {
            w.push(format!(
                "--sampler {kind} never inserts pauses: pause spacing ignored"
            ));
        }
    } else if cfg.pause_every < 2 {
        w.push(format!(
            "pause spacing {} counts as 2: never two pauses in a row",
            cfg.pause_every
        ));
    }
    if kind != SamplerKind::Adaptive && cfg.adaptive != d.adaptive {
        w.push(format!(
            "--sampler {kind} ignores the adaptive-temperature parameters"
        ));
    }
    w
}

/// Error unless `id` is a valid pause token for a model with `vocab_len` logits.
pub fn check_pause_token(id: u32, vocab_len: usize) -> Result<(), String> {
    if (id as usize) < vocab_len {
        Ok(())
    } else {
        Err(format!(
            "pause token id {id} is outside the vocabulary (0..{vocab_len})"
        ))
    }
}

/// What a step chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Choice {
    /// A sampled token: append it and continue.
    Token(u32),
    /// The pause token: append it, run the model, and call [`Sampler::step`] again.
    Pause(u32),
}

impl Choice {
    /// The token id, pause or not.
    pub fn id(&self) -> u32 {
        match *self {
            Choice::Token(id) | Choice::Pause(id) => id,
        }
    }

    /// Whether the pause token was chosen (it is not part of the answer).
    pub fn is_pause(&self) -> bool {
        matches!(self, Choice::Pause(_))
    }
}

/// One sampling step: the choice and what led to it (for the trace CSV).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub choice: Choice,
    /// Entropy of softmax(logits), bits (NaN when no logit is finite).
    pub entropy: f32,
    /// Varentropy of softmax(logits), bits².
    pub varentropy: f32,
    pub state: State,
}

/// Replaces the logits by a mask when some are +∞: those share all the mass.
fn posinf_mask(logits: &[f32]) -> Vec<f32> {
    logits
        .iter()
        .map(|&z| {
            if z == f32::INFINITY {
                0.0
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect()
}

/// A seeded sampler. One per generated sequence (or [`Sampler::reset`] between sequences).
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: SamplerConfig,
    rng: Xoshiro256,
    steps: u64,
    last_pause: Option<u64>,
    scratch: Scratch,
}

impl Sampler {
    /// A sampler seeded from `cfg.seed`: the same seed gives the same tokens.
    pub fn new(cfg: SamplerConfig) -> Self {
        let rng = Xoshiro256::seed_from_u64(cfg.seed);
        Self {
            cfg,
            rng,
            steps: 0,
            last_pause: None,
            scratch: Scratch::default(),
        }
    }

    /// The configuration it samples with.
    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    /// Steps taken since creation or the last reset (pauses included).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Start a new sequence: reseed from the config's seed, forget past pauses.
    pub fn reset(&mut self) {
        self.reset_with_seed(self.cfg.seed);
    }

    /// Start a new sequence with another seed (e.g. seed + problem index).
    pub fn reset_with_seed(&mut self, seed: u64) {
        self.rng = Xoshiro256::seed_from_u64(seed);
        self.steps = 0;
        self.last_pause = None;
    }

    fn pause_allowed(&self) -> bool {
        let every = self.cfg.pause_every.max(2) as u64;
        match self.last_pause {
            None => true,
            Some(last) => self.steps - last >= every,
        }
    }

    /// Choose the next token from one row of logits. `pause_token` enables pause insertion
    /// (entropix only); the caller checks it is inside the vocabulary
    /// ([`check_pause_token`]). NaN logits count as −∞; when no logit is finite the step
    /// returns token 0 with NaN entropy.
    pub fn step(&mut self, logits: &[f32], pause_token: Option<u32>) -> Step {
        let entropix = self.cfg.kind == SamplerKind::Entropix;
        let masked;
        let mut logits = logits;
        let Some((mut zmax, argmax)) = metrics::max_logit(logits) else {
            self.steps += 1;
            return Step {
                choice: Choice::Token(0),
                entropy: f32::NAN,
                varentropy: f32::NAN,
                state: if entropix {
                    State::Argmax
                } else {
                    State::Plain
                },
            };
        };
        if zmax == f32::INFINITY {
            masked = posinf_mask(logits);
            logits = &masked;
            zmax = 0.0;
        }
        let mom = Moments::compute(logits, zmax, 1.0);
        let (h, v) = mom.bits();
        let (h, v) = (h as f32, v as f32);
        let base = self.cfg.base_filter();
        let mut draws = 1;
        let (state, filter) = match self.cfg.kind {
            SamplerKind::Greedy | SamplerKind::Temp | SamplerKind::MinP => (State::Plain, base),
            SamplerKind::Adaptive => {
                let a = &self.cfg.adaptive;
                let beta = adaptive_beta(mom.entropy_nats() as f32, a.ent_min_nats, &a.poly);
                (State::Plain, Filter { beta, ..base })
            }
            SamplerKind::Entropix => {
                let state = classify(h, v, &self.cfg.thresholds);
                if state == State::Pause {
                    if let Some(id) = pause_token {
                        if self.pause_allowed() {
                            self.last_pause = Some(self.steps);
                            self.steps += 1;
                            return Step {
                                choice: Choice::Pause(id),
                                entropy: h,
                                varentropy: v,
                                state,
                            };
                        }
                    }
                }
                if state == State::Blend {
                    draws = self.cfg.entropix.blend_samples.max(1);
                }
                let f = entropix::state_filter(state, &base, h, v, &self.cfg.entropix);
                (state, f)
            }
        };
        self.steps += 1;
        let total = filters::apply(
            logits,
            zmax,
            argmax,
            mom.s0,
            &filter,
            false,
            &mut self.scratch,
        );
        let id = self.draw(total, draws);
        Step {
            choice: Choice::Token(id),
            entropy: h,
            varentropy: v,
            state,
        }
    }

    /// `draws` categorical draws from the kept candidates; the one the model rates most
    /// probable (highest logit, earliest draw on a tie) wins.
    fn draw(&mut self, total: f64, draws: usize) -> u32 {
        let cand = &self.scratch.cand;
        if cand.len() == 1 {
            return cand[0].1;
        }
        let mut best: Option<(f32, u32)> = None;
        for _ in 0..draws {
            let target = self.rng.next_f64() * total;
            let mut acc = 0f64;
            let mut pick = cand.len() - 1;
            for (j, &w) in self.scratch.weights.iter().enumerate() {
                acc += w;
                if target < acc {
                    pick = j;
                    break;
                }
            }
            let c = cand[pick];
            if best.is_none_or(|b| c.0 > b.0) {
                best = Some(c);
            }
        }
        best.map_or(cand[0].1, |b| b.1)
    }
}

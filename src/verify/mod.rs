//! `verify`: confirm candidate under-trained tokens with real forward passes (docs/usage.md, `tokenaudit verify`).
//! Indicators only suggest; the probability a model gives a token it is asked to repeat
//! proves whether it learned it.

pub mod csv;
pub mod fingerprint;
pub mod local;
pub mod prompts;
pub mod remote;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device};

use crate::hf::Config;
use crate::model::quantized::GgufWeights;
use crate::model::{Backend, LoadSpec, LoadedModel, ModelInfo, Runtime};
use crate::openai::bound::Bound;
use crate::util::progress;
use crate::vocab::LoadOptions;
use local::{ScoreOptions, Scorer};
use prompts::{BuiltPrompt, Template};

/// Score thresholds of the verdicts (published defaults).
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Below this score: strongly under-trained.
    pub strong: f32,
    /// Below this score: under-trained.
    pub under: f32,
    /// Above this score: trained (and, with early stopping, no more prompts are tried).
    pub trained: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            strong: 0.001,
            under: 0.01,
            trained: 0.1,
        }
    }
}

/// What a token's best score says about it, by the [`Thresholds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Score below [`Thresholds::strong`].
    StronglyUnderTrained,
    /// Score below [`Thresholds::under`].
    UnderTrained,
    /// Between `under` and `trained`.
    Unclear,
    /// Score above [`Thresholds::trained`].
    Trained,
    /// A served model's top log-probabilities bound the score but do not decide it.
    Inconclusive,
}

impl Verdict {
    /// The verdict of an exact score.
    pub fn of(score: f32, t: &Thresholds) -> Verdict {
        if score < t.strong {
            Verdict::StronglyUnderTrained
        } else if score < t.under {
            Verdict::UnderTrained
        } else if score > t.trained {
            Verdict::Trained
        } else {
            Verdict::Unclear
        }
    }
    /// The verdict when the score is only known to lie in `[b.lo, b.hi]`: decided only
    /// when every score in the interval gives the same verdict. An exact score (lo = hi)
    /// gets [`Verdict::of`].
    pub fn of_bound(b: Bound, t: &Thresholds) -> Verdict {
        let (lo, hi) = (Verdict::of(b.lo, t), Verdict::of(b.hi, t));
        if lo == hi {
            lo
        } else if b.hi < t.under {
            Verdict::UnderTrained
        } else {
            Verdict::Inconclusive
        }
    }
    /// Every verdict, in report order.
    pub const ALL: [Verdict; 5] = [
        Verdict::StronglyUnderTrained,
        Verdict::UnderTrained,
        Verdict::Unclear,
        Verdict::Trained,
        Verdict::Inconclusive,
    ];
    /// The name CSV and JSON outputs use.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::StronglyUnderTrained => "strongly_under_trained",
            Verdict::UnderTrained => "under_trained",
            Verdict::Unclear => "unclear",
            Verdict::Trained => "trained",
            Verdict::Inconclusive => "inconclusive",
        }
    }
    /// The verdict of a [`Verdict::name`] (reading a resumed log).
    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.name() == s)
    }
    /// Under-trained in either degree.
    pub fn is_under_trained(self) -> bool {
        matches!(self, Verdict::StronglyUnderTrained | Verdict::UnderTrained)
    }
}

/// One verified token: the score of each prompt (None when early stopping skipped it).
#[derive(Debug, Clone)]
pub struct Row {
    /// The token id.
    pub id: u32,
    /// Its decoded text.
    pub decoded: String,
    /// One score per prompt template, in template order.
    pub prompt_scores: Vec<Option<f32>>,
    /// The best of the prompt scores.
    pub score: f32,
    /// `score` is an upper bound, not the probability itself (a served model's candidate
    /// was not among the returned top log-probabilities).
    pub bound: bool,
    /// What the score says.
    pub verdict: Verdict,
}

/// Which ids to verify.
#[derive(Debug, Clone)]
pub enum IdSource {
    /// These ids (`--ids`).
    Ids(Vec<u32>),
    /// The `candidate == true` rows of a scan CSV.
    CandidatesCsv(PathBuf),
    /// Every token of the tokenizer.
    All,
}

/// What to verify and how; also what [`LoadedModel::load`] loads (via [`LoadSpec`]).
#[derive(Debug, Clone)]
pub struct VerifySettings {
    /// The model directory.
    pub model: PathBuf,
    /// The tokenizer, when it is not the model directory's.
    pub tokenizer: Option<PathBuf>,
    /// How the tokenizer is loaded.
    pub load: LoadOptions,
    /// Where an in-process model runs.
    pub device: Device,
    /// `None`: f32 on CPU, the checkpoint's dtype on CUDA.
    pub dtype: Option<DType>,
    /// Which ids to verify.
    pub ids: IdSource,
    /// Batch size, caches and greedy steps.
    pub scoring: ScoreOptions,
    /// Stop a token's remaining prompts and steps once its verdict is `trained`.
    pub early_stop: bool,
    /// Score thresholds of the verdicts.
    pub thresholds: Thresholds,
    /// The prompt templates each token is tried in.
    pub templates: Vec<Template>,
    /// Append rows here as they are done; resume from it when it exists.
    pub csv: Option<PathBuf>,
    /// In process, or through a serving engine.
    pub backend: Backend,
    /// What a GGUF file's weights are computed with in process.
    pub gguf_weights: GgufWeights,
    /// Verify the control tokens first and refuse to give verdicts when the model does
    /// not repeat them ([`check_controls`]).
    pub controls: bool,
}

impl VerifySettings {
    /// The published defaults for `model` and `ids`, in process on the CPU.
    pub fn new(model: PathBuf, ids: IdSource) -> Self {
        VerifySettings {
            model,
            tokenizer: None,
            load: LoadOptions::default(),
            device: Device::Cpu,
            dtype: None,
            ids,
            scoring: ScoreOptions {
                batch_size: DEFAULT_BATCH_SIZE,
                kv_cache: true,
                prefix_cache: true,
                steps: 3,
            },
            early_stop: true,
            thresholds: Thresholds::default(),
            templates: prompts::TEMPLATES.to_vec(),
            csv: None,
            backend: Backend::InProcess,
            gguf_weights: GgufWeights::Auto,
            controls: true,
        }
    }

    /// Refuse settings no run can honour: an empty batch, or thresholds out of order
    /// (the verdicts would overlap). Every front end calls this before [`run`].
    pub fn validate(&self) -> Result<()> {
        check_scoring(self.scoring.batch_size, &self.thresholds)
    }
}

/// Candidates per forward pass unless told otherwise: large enough to keep the cores
/// busy on small models, small enough that a batch's KV cache stays in memory.
pub const DEFAULT_BATCH_SIZE: usize = 64;

/// The checks of [`VerifySettings::validate`] on their own, for front ends that check
/// flags before the settings exist.
pub fn check_scoring(batch_size: usize, t: &Thresholds) -> Result<()> {
    if batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    if !(t.strong <= t.under && t.under <= t.trained) {
        anyhow::bail!("thresholds must satisfy --strong <= --under <= --trained");
    }
    Ok(())
}

/// What a verification run found.
pub struct VerifyReport {
    /// The model verified.
    pub info: ModelInfo,
    /// The token (id, text) that stands in for the candidate while the prompts are built.
    pub placeholder: (u32, String),
    /// The prompts as built for this tokenizer.
    pub prompts: Vec<BuiltPrompt>,
    /// All rows, resumed and new, in the order of the requested ids.
    pub rows: Vec<Row>,
    /// Rows taken from the resumed log rather than computed.
    pub resumed: usize,
    /// Sequence positions forwarded in process for the new rows (prefixes once per batch
    /// size, padding rows included; 0 for a served model): the work the run did, for
    /// comparing it with the method's compute floor.
    pub positions: u64,
    /// Wall time of the run.
    pub seconds: f64,
    /// Newly verified tokens per second.
    pub tokens_per_s: f64,
    /// For a served model: the log-probabilities per step the engine gave (after any
    /// step-down from the number asked).
    pub top_logprobs: Option<usize>,
    /// The model's load warnings ([`LoadedModel::warnings`]), for the caller to show.
    pub warnings: Vec<String>,
    /// The control tokens' rows ([`control_ids`]); empty when none ran (`controls`
    /// off, or nothing new to verify).
    pub controls: Vec<Row>,
}

impl<'a> From<&'a VerifySettings> for LoadSpec<'a> {
    fn from(s: &'a VerifySettings) -> LoadSpec<'a> {
        LoadSpec {
            model: &s.model,
            tokenizer: s.tokenizer.as_deref(),
            load: &s.load,
            device: &s.device,
            dtype: s.dtype,
            backend: &s.backend,
            gguf_weights: s.gguf_weights,
        }
    }
}

/// The ids `src` names, checked against the model's vocabulary, repeats dropped.
pub fn resolve_ids(v: &LoadedModel, src: &IdSource) -> Result<Vec<u32>> {
    let ids = match src {
        IdSource::Ids(v) => v.clone(),
        IdSource::All => v.audit.tokens.iter().map(|t| t.id).collect(),
        IdSource::CandidatesCsv(p) => csv::read_candidates(p)?,
    };
    v.check_ids(ids)
}

/// Load the model named by `s`, then verify the ids it asks for.
pub fn run(s: &VerifySettings) -> Result<VerifyReport> {
    let v = LoadedModel::load(s)?;
    let ids = resolve_ids(&v, &s.ids)?;
    run_with(&v, s, &ids)
}

/// The attention window of an in-process model whose window is shorter than its
/// `max_position_embeddings`: `(window, max_position_embeddings)`.
fn attention_window(info: &ModelInfo) -> Result<Option<(usize, usize)>> {
    // A GGUF's attention window is in its own metadata, which its loader checks.
    let arch = match info.arch {
        _ if info.served.is_some() || !info.dir.is_dir() => return Ok(None),
        Some(a) => a,
        None => return Ok(None),
    };
    let Some(c) = Config::read_in(&info.dir)? else {
        return Ok(None);
    };
    let Some(f) = arch.facts(&c)? else {
        return Ok(None);
    };
    Ok(f.sliding_window
        .filter(|&w| w < f.max_position_embeddings)
        .map(|w| (w, f.max_position_embeddings)))
}

/// Refuse a run whose prompts the attention window cut: candle's models attend over the
/// whole sequence, transformers' only over the window, so the published prompts, longer
/// than the window, cannot be scored as the checkpoint's authors run it. (Prompts that
/// fit the window are exact: within it a sliding window masks nothing.)
fn check_window(
    v: &LoadedModel,
    s: &VerifySettings,
    ph_id: u32,
    ph_text: &str,
    built: &[BuiltPrompt],
) -> Result<()> {
    let Some((w, mpe)) = attention_window(&v.info)? else {
        return Ok(());
    };
    let unwindowed = prompts::build_all(
        &v.vocab,
        (ph_id, ph_text),
        v.bos,
        mpe,
        s.scoring.steps,
        &s.templates,
    )?;
    for (a, b) in unwindowed.iter().zip(built) {
        if a.ids.len() != b.ids.len() {
            anyhow::bail!(
                "{}: sliding_window {w} is shorter than the {} prompt ({} positions with {} examples): transformers attends over the last {w} positions only, candle's model over all of them, so the prompt cannot be scored as the checkpoint runs; refused",
                v.info.dir.join("config.json").display(),
                a.name,
                a.ids.len() + s.scoring.steps,
                a.k
            );
        }
    }
    Ok(())
}

/// The prompts in the order they run: the cheapest prompt that most often settles a
/// trained token first (docs/methods.md §5, "Run order"). Early stopping makes only
/// `trained` verdicts final before the last prompt, and a score is the best over the
/// prompts, so the order changes no verdict, only how many positions a trained token
/// costs; output columns keep the order of `--prompts`.
pub const RUN_ORDER: [&str; 3] = ["repeats", "assistant_explain", "input_output"];

/// Indices into `built` in [`RUN_ORDER`], prompts it does not name last, shortest first.
pub fn run_order(built: &[BuiltPrompt]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..built.len()).collect();
    let rank = |p: &BuiltPrompt| {
        (
            RUN_ORDER
                .iter()
                .position(|n| *n == p.name)
                .unwrap_or(RUN_ORDER.len()),
            p.ids.len(),
        )
    };
    order.sort_by_key(|&i| rank(&built[i]));
    order
}

/// Verify `ids` with a loaded verifier, appending to and resuming from `s.csv`.
pub fn run_with(v: &LoadedModel, s: &VerifySettings, ids: &[u32]) -> Result<VerifyReport> {
    let started = Instant::now();
    let (ph_id, ph_text, built) = prompts::build_with_placeholder(
        &v.vocab,
        &v.audit,
        v.bos,
        v.info.max_positions,
        s.scoring.steps,
        &s.templates,
    )
    .map_err(|e| match attention_window(&v.info) {
        Ok(Some((w, _))) => e.context(format!(
            "{}: sliding_window {w} caps the context (transformers attends over the last \
             {w} positions only, candle's model over all)",
            v.info.dir.join("config.json").display()
        )),
        _ => e,
    })
    .with_context(|| format!("{}: building the verification prompts", s.model.display()))?;
    check_window(v, s, ph_id, &ph_text, &built)?;
    let names: Vec<&str> = built.iter().map(|p| p.name).collect();

    let mut log = match &s.csv {
        Some(p) => {
            let fp = fingerprint::of_run(v, s, &names, ph_id)?;
            Some(csv::Log::open(p, &names, &fp)?)
        }
        None => None,
    };
    let done = log.as_ref().map(|l| l.done.clone()).unwrap_or_default();
    let todo: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|i| !done.contains_key(i))
        .collect();
    let resumed = ids.len() - todo.len();

    let stop = s.early_stop.then_some(s.thresholds.trained);
    let decoded = |id: u32| {
        v.audit
            .token(id)
            .map(|t| t.decoded.clone())
            .unwrap_or_default()
    };
    let mut engine = match &v.runtime {
        Runtime::Local(lm) => Engine::Local(
            run_order(&built)
                .into_iter()
                .map(|k| {
                    let sc = Scorer::new(lm, &v.info.device, &built[k], s.scoring)
                        .with_eos(&v.info.eos_ids);
                    (k, sc)
                })
                .collect(),
        ),
        Runtime::Remote(client) => Engine::Remote(
            remote::Scorer::new(client, &v.audit, &built, s.scoring.steps, stop)
                .with_eos(&v.info.eos_ids),
            client,
        ),
    };
    let rows_of = |engine: &mut Engine, batch: &[u32]| {
        engine.rows(batch, built.len(), stop, &s.thresholds, &decoded)
    };
    // The controls first: a model that cannot repeat its most common tokens gets no
    // verdicts at all.
    let controls = if s.controls && !todo.is_empty() {
        let ids = control_ids(v);
        let (rows, failure) = rows_of(&mut engine, &ids);
        if let Some(e) = failure {
            return Err(e);
        }
        check_controls(v, &rows, &s.thresholds)?;
        rows
    } else {
        Vec::new()
    };
    let control_positions = engine.positions();

    let bar = progress::bar_always(todo.len() as u64, "verifying");
    let mut new_rows: Vec<Row> = Vec::with_capacity(todo.len());
    for batch in todo.chunks(engine.chunk(s.scoring.batch_size)) {
        let (rows, failure) = rows_of(&mut engine, batch);
        // Keep every finished row, even when the engine failed mid-batch.
        if let Some(l) = log.as_mut() {
            l.append(&rows)?;
        }
        bar.inc(rows.len() as u64);
        new_rows.extend(rows);
        if let Some(e) = failure {
            bar.finish_and_clear();
            return Err(match &s.csv {
                Some(p) => anyhow::anyhow!(
                    "{e:#} (the {} tokens done are in {}: a rerun with the same --csv resumes)",
                    new_rows.len(),
                    p.display()
                ),
                None => e,
            });
        }
    }
    let positions = engine.positions() - control_positions;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let mut by_id: std::collections::HashMap<u32, Row> =
        new_rows.into_iter().map(|r| (r.id, r)).collect();
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = by_id.remove(id) {
            rows.push(r);
        } else if let Some(r) = done.get(id) {
            rows.push(r.clone());
        }
    }
    Ok(VerifyReport {
        info: v.info.clone(),
        placeholder: (ph_id, ph_text),
        prompts: built,
        top_logprobs: match &v.runtime {
            Runtime::Remote(c) => Some(c.endpoint.top_logprobs),
            Runtime::Local(_) => None,
        },
        tokens_per_s: if seconds > 0.0 {
            (ids.len() - resumed) as f64 / seconds
        } else {
            0.0
        },
        warnings: v.warnings.clone(),
        controls,
        rows,
        resumed,
        positions,
        seconds,
    })
}

/// The two ways rows are scored: the in-process scorers (one per prompt, in run order) or
/// a serving engine.
enum Engine<'a> {
    Local(Vec<(usize, Scorer<'a>)>),
    Remote(remote::Scorer<'a>, &'a crate::openai::Client),
}

impl Engine<'_> {
    /// Ids per logged batch: the batch size in process; for an engine, a few rounds of
    /// requests, so an uninterrupted run writes the same file whatever the timing.
    fn chunk(&self, batch_size: usize) -> usize {
        match self {
            Engine::Local(_) => batch_size.max(1),
            Engine::Remote(_, c) => c.endpoint.concurrency.max(1) * 4,
        }
    }

    /// Positions forwarded in process so far.
    fn positions(&self) -> u64 {
        match self {
            Engine::Local(sc) => sc.iter().map(|(_, s)| s.positions).sum(),
            Engine::Remote(..) => 0,
        }
    }

    /// The rows of `batch`, in its order; with an engine, the rows finished before a
    /// failure and the failure.
    fn rows(
        &mut self,
        batch: &[u32],
        n_prompts: usize,
        stop: Option<f32>,
        t: &Thresholds,
        decoded: &dyn Fn(u32) -> String,
    ) -> (Vec<Row>, Option<anyhow::Error>) {
        match self {
            Engine::Local(scorers) => {
                let mut scores: Vec<Vec<Option<f32>>> = vec![vec![None; n_prompts]; batch.len()];
                for (k, scorer) in scorers.iter_mut() {
                    let k = *k;
                    let active: Vec<usize> = (0..batch.len())
                        .filter(|&i| {
                            let best = scores[i].iter().flatten().fold(0f32, |a, &b| a.max(b));
                            stop.is_none_or(|t| best <= t)
                        })
                        .collect();
                    if active.is_empty() {
                        break;
                    }
                    let cands: Vec<u32> = active.iter().map(|&i| batch[i]).collect();
                    match scorer.score(&cands, stop) {
                        Ok(got) => {
                            for (&i, p) in active.iter().zip(got) {
                                scores[i][k] = Some(p);
                            }
                        }
                        Err(e) => return (Vec::new(), Some(e)),
                    }
                }
                let rows = batch
                    .iter()
                    .zip(scores)
                    .map(|(&id, ps)| {
                        let score = ps.iter().flatten().fold(0f32, |a, &b| a.max(b));
                        Row {
                            id,
                            decoded: decoded(id),
                            prompt_scores: ps,
                            score,
                            bound: false,
                            verdict: Verdict::of(score, t),
                        }
                    })
                    .collect();
                (rows, None)
            }
            Engine::Remote(scorer, client) => {
                let got = crate::openai::pool::map(batch, client.endpoint.concurrency, |&id| {
                    scorer.score(id)
                });
                let mut rows = Vec::with_capacity(batch.len());
                let mut failure = None;
                for (&id, r) in batch.iter().zip(got) {
                    match r {
                        Some(Ok(ps)) => rows.push(remote::row(id, decoded(id), &ps, t)),
                        Some(Err(e)) => {
                            failure.get_or_insert(e);
                        }
                        None => {}
                    }
                }
                (rows, failure)
            }
        }
    }
}

/// English text whose most frequent tokens are the controls: any tokenizer trained on
/// natural text splits it into a few very common tokens (" the", ",", ".", " and"),
/// which any working model has seen millions of times and repeats when asked.
pub const CONTROL_TEXT: &str = "The cat sat on the mat, and the dog sat by the door. The \
    children played in the park with the ball, and then they went home to the house for \
    dinner. It was a good day, and the sun was in the sky.";

/// How many control tokens a run carries.
pub const N_CONTROLS: usize = 5;

/// The control tokens: the [`N_CONTROLS`] most frequent ids of [`CONTROL_TEXT`] (ties by
/// first occurrence), specials, end-of-sequence ids and tokens that do not re-encode to
/// themselves left out.
pub fn control_ids(v: &LoadedModel) -> Vec<u32> {
    let ids = v.vocab.encode(CONTROL_TEXT).unwrap_or_default();
    let mut counts: Vec<(u32, usize, usize)> = Vec::new();
    for (pos, &id) in ids.iter().enumerate() {
        match counts.iter_mut().find(|c| c.0 == id) {
            Some(c) => c.1 += 1,
            None => counts.push((id, 1, pos)),
        }
    }
    counts.retain(|&(id, _, _)| {
        !v.vocab.special_ids.contains(&id)
            && !v.info.eos_ids.contains(&id)
            && (id as usize) < v.info.vocab_size
            && v.audit.token(id).is_some_and(|t| t.category.is_ok())
    });
    counts.sort_by_key(|&(_, n, pos)| (std::cmp::Reverse(n), pos));
    counts.into_iter().take(N_CONTROLS).map(|c| c.0).collect()
}

/// Refuse verdicts when most controls come out under-trained: a model that does not
/// repeat " the" is not telling anything about rare tokens either (broken weights, a
/// config.json that does not match them, the wrong tokenizer, or a model too small to
/// repeat at all).
pub fn check_controls(v: &LoadedModel, rows: &[Row], t: &Thresholds) -> Result<()> {
    let failed: Vec<&Row> = rows
        .iter()
        .filter(|r| r.verdict.is_under_trained())
        .collect();
    if rows.is_empty() || failed.len() * 2 <= rows.len() {
        return Ok(());
    }
    let shown: Vec<String> = failed
        .iter()
        .map(|r| format!("{:?} {:.2e}", r.decoded, r.score))
        .collect();
    anyhow::bail!(
        "{}: {} of {} control tokens (the most common tokens of plain English) scored below {} \
         ({}): a working model repeats them, so the weights, config.json or tokenizer are \
         broken or do not belong together; no verdicts given (--no-controls verifies anyway)",
        v.info.dir.display(),
        failed.len(),
        rows.len(),
        t.under,
        shown.join(", ")
    )
}

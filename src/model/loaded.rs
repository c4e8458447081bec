//! The loaded model and tokenizer that `verify`, `pause`, `generate` and `eval` share:
//! candle in this process, or a serving engine's OpenAI-compatible API.

use std::path::Path;

use anyhow::{bail, Result};
use candle_core::{DType, Device};

use super::{quantized, served_info, Lm, ModelInfo};
use crate::audit::{self, AuditReport};
use crate::hf::{Config, TokenizerConfig};
use crate::openai::vocab_check::{self, VocabCheck};
use crate::openai::{Client, Endpoint};
use crate::vocab::{self, LoadOptions, Vocab};

/// Where the forward passes run.
#[derive(Debug, Clone)]
pub enum Backend {
    /// candle, in this process.
    InProcess,
    /// A serving engine's OpenAI-compatible completions API.
    OpenAi(Endpoint),
}

/// The loaded backend. (One exists per run, so the size difference costs nothing.)
#[allow(clippy::large_enum_variant)]
pub enum Runtime {
    /// The model in this process: full logits.
    Local(Lm),
    /// A serving engine: top log-probabilities only.
    Remote(Client),
}

/// What [`LoadedModel::load`] needs: the model, its tokenizer and where to run it. The
/// commands' settings convert into it (`impl From<&VerifySettings>`), so the model layer
/// does not depend on them.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec<'a> {
    /// The model directory.
    pub model: &'a Path,
    /// The tokenizer, when it is not the one in the model directory.
    pub tokenizer: Option<&'a Path>,
    /// How the tokenizer is loaded.
    pub load: &'a LoadOptions,
    /// Where an in-process model runs.
    pub device: &'a Device,
    /// `None`: f32 on CPU, the checkpoint's dtype on CUDA.
    pub dtype: Option<DType>,
    /// In process, or through an engine.
    pub backend: &'a Backend,
    /// What a GGUF file's weights are computed with in process.
    pub gguf_weights: super::quantized::GgufWeights,
}

/// A loaded model and tokenizer, ready to score; built once, reused by `glitch`.
pub struct LoadedModel {
    /// Where the forward passes run.
    pub runtime: Runtime,
    /// Facts about the model (sizes, context, device).
    pub info: ModelInfo,
    /// The tokenizer prompts are built with.
    pub vocab: Vocab,
    /// Its audit: decoded text and categories of every id.
    pub audit: AuditReport,
    /// The BOS id prompts start with, when the tokenizer wants one ([`wants_bos`]).
    pub bos: Option<u32>,
    /// What the check of a served model's vocabulary compared.
    pub vocab_check: Option<VocabCheck>,
    /// Things a person should know about the load (shown by the caller, one line each).
    pub warnings: Vec<String>,
}

impl LoadedModel {
    /// Load the tokenizer (audited) and the model.
    pub fn load<'a>(s: impl Into<LoadSpec<'a>>) -> Result<LoadedModel> {
        let s = s.into();
        let tok_path = s.tokenizer.unwrap_or(s.model);
        let vocab = vocab::load(tok_path, s.load)?;
        let audit = audit::audit(&vocab);
        LoadedModel::with_tokenizer(s, vocab, audit)
    }

    /// Load the model for a tokenizer already loaded and audited (`glitch` has both from
    /// its scan).
    pub fn with_tokenizer<'a>(
        s: impl Into<LoadSpec<'a>>,
        vocab: Vocab,
        audit: AuditReport,
    ) -> Result<LoadedModel> {
        let s = s.into();
        if let Backend::OpenAi(ep) = s.backend {
            let mut info = served_info(s.model, &vocab, ep)?;
            let bos = wants_bos(s.model, &vocab);
            let mut client = Client::new(ep.clone())?;
            let check =
                vocab_check::check(&mut client, &vocab, &audit, bos, Some(info.vocab_size))?;
            // Prompts must fit the context the engine serves, which may be shorter than
            // the model's (a server started with a small context, or no config.json here).
            if let Some(n) = check.engine_context {
                info.max_positions = info.max_positions.min(n);
            }
            let mut warnings = check.notes.clone();
            if check.compared == 0 {
                warnings.push(format!(
                    "{} named no token by both id and text, so its vocabulary could not be \
                     compared with the tokenizer",
                    ep.url
                ));
            }
            return Ok(LoadedModel {
                runtime: Runtime::Remote(client),
                info,
                vocab,
                audit,
                bos,
                vocab_check: Some(check),
                warnings,
            });
        }
        let (lm, info) = super::load_with(s.model, s.device, s.dtype, s.gguf_weights)?;
        if vocab.len() > info.vocab_size {
            bail!(
                "{}: the tokenizer has {} ids but the model's vocab_size is {}: the tokenizer \
                 does not match the model",
                vocab.source.display(),
                vocab.len(),
                info.vocab_size
            );
        }
        let bos = wants_bos(s.model, &vocab);
        let mut warnings = gguf_notes(s.model, &info);
        if let Some(given) = s.tokenizer {
            warnings.extend(own_tokenizer_check(s.model, given, &vocab)?);
        }
        Ok(LoadedModel {
            runtime: Runtime::Local(lm),
            info,
            vocab,
            audit,
            bos,
            vocab_check: None,
            warnings,
        })
    }

    /// The in-process model, for the commands that need full logits.
    pub fn local(&self, what: &str) -> Result<&Lm> {
        match &self.runtime {
            Runtime::Local(lm) => Ok(lm),
            Runtime::Remote(_) => bail!("{what} needs the in-process backend (full logits)"),
        }
    }

    /// `ids` checked against the model's vocabulary and with repeats dropped (first
    /// occurrence kept), so every command scores each id once.
    pub fn check_ids(&self, ids: Vec<u32>) -> Result<Vec<u32>> {
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= self.info.vocab_size) {
            bail!(
                "{}: token id {bad} is outside the model's {} ids (0 to {})",
                self.info.dir.display(),
                self.info.vocab_size,
                self.info.vocab_size.saturating_sub(1)
            );
        }
        let mut seen = std::collections::HashSet::new();
        Ok(ids.into_iter().filter(|i| seen.insert(*i)).collect())
    }
}

/// Ids decoded by both tokenizers when a given tokenizer is held to the model's own.
const COMPARED_IDS: usize = 4096;

/// A tokenizer given beside a model that has its own (tokenizer files in its directory,
/// the vocabulary inside a GGUF) must be that one: the same size is not the same
/// vocabulary, and verdicts computed with another family's ids would be about other
/// tokens. Refused when more than 1 % of a spread of ids decode to other text; a model
/// without a tokenizer of its own gets a note instead (the control tokens still run).
fn own_tokenizer_check(model: &Path, given: &Path, vocab: &Vocab) -> Result<Vec<String>> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    };
    if same(model, given) || same(&vocab.source, model) {
        return Ok(Vec::new());
    }
    // The model's own files, read by their detected format (the flags are for the given one).
    let own = match vocab::load(model, &LoadOptions::default()) {
        Ok(v) => v,
        Err(e) => {
            return Ok(vec![format!(
                "the model has no tokenizer of its own to hold {} to ({e}); only the control \
                 tokens check that they belong together",
                given.display()
            )])
        }
    };
    if same(&own.source, &vocab.source) {
        return Ok(Vec::new());
    }
    let c = crate::audit::compare::compare(vocab, &own, COMPARED_IDS);
    if c.mismatch() {
        let shown: Vec<String> = c
            .examples
            .iter()
            .map(|(id, a, b)| format!("id {id}: {a:?} here, {b:?} in the model's"))
            .collect();
        bail!(
            "{}: not the model's tokenizer: {} of {} ids spread over the vocabulary decode \
             to other text than in the model's own {} ({}); verdicts would be about other \
             tokens",
            given.display(),
            c.differing,
            c.compared,
            own.source.display(),
            shown.join("; ")
        );
    }
    Ok(Vec::new())
}

/// What a person should know about a GGUF run in process (its context cut to what
/// candle's model takes).
fn gguf_notes(model: &Path, info: &ModelInfo) -> Vec<String> {
    if !quantized::is_gguf(model) {
        return Vec::new();
    }
    let context = crate::gguf::GgufFile::open(model)
        .ok()
        .and_then(|f| quantized::facts(&f).context);
    quantized::notes(info, context)
}

/// Whether prompts start with BOS: for a GGUF model, its `tokenizer.ggml.add_bos_token`
/// when set (what llama.cpp does); else the tokenizer's post-processor adds it, or
/// tokenizer_config.json says `add_bos_token: true` (as Llama tokenizers do). The BOS id
/// comes from the tokenizer, else config.json (or the GGUF's `bos_token_id`); a sidecar
/// that cannot be read counts as saying nothing.
pub fn wants_bos(model_dir: &Path, vocab: &Vocab) -> Option<u32> {
    if quantized::is_gguf(model_dir) {
        if let Ok(f) = crate::gguf::GgufFile::open(model_dir) {
            let facts = quantized::facts(&f);
            match facts.add_bos {
                Some(false) => return None,
                Some(true) => return vocab.bos_id.or(facts.bos),
                None => {}
            }
        }
    }
    let bos = vocab.bos_id.or_else(|| {
        let cfg = Config::read_in(model_dir).ok()??;
        cfg.u64("bos_token_id").map(|b| b as u32)
    })?;
    let with = vocab.tokenizer.encode_fast("a", true).ok()?;
    if with.get_ids().first() == Some(&bos) {
        return Some(bos);
    }
    let cfg = TokenizerConfig::read_in(model_dir).ok()??;
    cfg.flag("add_bos_token")?.then_some(bos)
}

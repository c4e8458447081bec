//! Pause-token ranking (docs/usage.md, `tokenaudit pause`): which tokens can be
//! repurposed as a "think one more step" token without disturbing the model.
//!
//! Candidates come from three places: reserved/unused specials the tokenizer declares but
//! training never used, tokens verified under-trained, and hesitation tokens the model
//! already knows (" ...", " Wait"). Each must decode to a unique printable string that
//! encodes back to itself and is absent from the chat template; then we measure how much
//! inserting it at the end of real contexts moves the next-token distribution (mean KL
//! divergence) and the entropy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};

use crate::audit::Category;
use crate::model::{Lm, LoadedModel, Runtime};
use crate::openai::Client;
use crate::verify::{self, VerifySettings};

/// Where a candidate came from.
/// Where a candidate came from: the report groups and caps candidates per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    ReservedSpecial,
    UnderTrained,
    Hesitation,
}

impl Source {
    /// The name in CSV and JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Source::ReservedSpecial => "reserved_special",
            Source::UnderTrained => "under_trained",
            Source::Hesitation => "hesitation",
        }
    }
}

/// Hesitation strings tried as single tokens (with and without a leading space).
pub const HESITATIONS: &[&str] = &[
    "...", " ...", "…", " …", " Wait", "Wait", " Hmm", " hmm", " Let", " So", " Well", " um",
    " uh", " pause", " think",
];

/// One candidate with its checks and its measured disturbance; only candidates that
/// [`passes`](Candidate::passes) every check are recommended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Candidate {
    pub id: u32,
    pub decoded: String,
    pub source: Source,
    pub printable: bool,
    pub unique: bool,
    pub reencodes: bool,
    pub not_in_template: bool,
    /// Mean KL(p ‖ q) in nats between the next-token distribution without (p) and with (q)
    /// the token appended, over the contexts.
    pub mean_kl: f64,
    pub max_kl: f64,
    /// Mean change of the next-token entropy (bits) the insertion causes.
    pub entropy_delta: f64,
}

impl Candidate {
    /// All checks passed: printable, decodes to a string no other id gives, re-encodes to
    /// itself, and absent from the prompt template, so that it can be inserted and read
    /// back unambiguously.
    pub fn passes(&self) -> bool {
        self.printable && self.unique && self.reencodes && self.not_in_template
    }
}

/// Contexts the insertion is measured on unless told otherwise: enough for a stable mean
/// KL, few enough for a CPU run of a small model.
pub const DEFAULT_CONTEXTS: usize = 64;
/// Candidates taken from each source unless told otherwise.
pub const DEFAULT_PER_SOURCE: usize = 16;

/// What to rank and on which contexts; the model is loaded from `verify`.
#[derive(Debug, Clone)]
pub struct PauseSettings {
    pub verify: VerifySettings,
    /// Text file whose non-empty lines are the contexts; the demo corpus when `None`.
    pub contexts: Option<PathBuf>,
    /// How many contexts (the first usable lines); 0: all of them.
    pub n_contexts: usize,
    /// At most this many candidates per source.
    pub per_source: usize,
}

/// The candidates ranked by disturbance, and the contexts they were measured on.
pub struct PauseReport {
    pub candidates: Vec<Candidate>,
    pub contexts: usize,
    pub context_source: String,
    /// The model's load warnings, for the caller to show.
    pub warnings: Vec<String>,
}

impl PauseReport {
    /// The recommended pause token: the passing candidate with the lowest mean KL.
    pub fn recommended(&self) -> Option<&Candidate> {
        self.candidates.iter().find(|c| c.passes())
    }
}

fn printable(s: &str) -> bool {
    !s.trim().is_empty() && !s.contains('\u{FFFD}') && !s.chars().any(|c| c.is_control())
}

/// Read the contexts: the non-empty lines of the file (or the demo corpus), tokenized.
fn contexts(v: &LoadedModel, s: &PauseSettings) -> Result<(Vec<Vec<u32>>, String)> {
    let (text, from) = match &s.contexts {
        Some(p) => (crate::util::text::read_text(p)?, p.display().to_string()),
        None => (
            crate::demo::CORPUS.to_string(),
            "data/demo/corpus.txt (use --contexts FILE for your own text)".to_string(),
        ),
    };
    // Leave room for the inserted token.
    let room = v.info.max_positions.saturating_sub(2).max(1);
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| l.len() > 8) {
        let mut ids = v.vocab.encode(line).map_err(|e| anyhow::anyhow!(e))?;
        if let Some(b) = v.bos {
            ids.insert(0, b);
        }
        if ids.len() > room {
            ids.truncate(room);
        }
        out.push(ids);
        if s.n_contexts > 0 && out.len() == s.n_contexts {
            break;
        }
    }
    if out.is_empty() {
        bail!("{from}: no usable context lines (need lines longer than 8 characters)");
    }
    Ok((out, from))
}

/// Every chat template the model ships ([`crate::chat::model_templates`]), joined: a
/// token in any of them is excluded. Empty when there is none or it cannot be read: then
/// no token is excluded for being in it.
fn chat_template(model: &Path) -> String {
    crate::chat::model_templates(model)
        .map(|all| {
            all.into_iter()
                .map(|t| t.source)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Collect candidates from the three sources (deduplicated, capped per source).
fn collect(v: &LoadedModel, s: &PauseSettings) -> Result<Vec<(u32, Source)>> {
    let mut out: Vec<(u32, Source)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut push = |id: u32, src: Source, out: &mut Vec<(u32, Source)>| {
        if seen.insert(id) {
            out.push((id, src));
        }
    };
    let reserved: Vec<u32> = v
        .audit
        .tokens
        .iter()
        .filter(|t| {
            let l = t.raw.to_ascii_lowercase();
            v.vocab.special_ids.contains(&t.id)
                && (l.contains("reserved") || l.contains("unused") || l.contains("extra"))
        })
        .map(|t| t.id)
        .take(s.per_source)
        .collect();
    for id in reserved {
        push(id, Source::ReservedSpecial, &mut out);
    }
    // Under-trained: the scan's lowest candidates that verification confirms.
    let scan = crate::scan::run_with(
        &crate::scan::ScanSettings {
            tokenizer: s.verify.tokenizer.clone(),
            load: s.verify.load.clone(),
            ..crate::scan::ScanSettings::new(s.verify.model.clone())
        },
        Some((v.vocab.clone(), v.audit.clone())),
    )?;
    let main = scan.indicators.get(scan.main);
    let mut cands = scan.candidates.clone();
    cands.sort_by(|&a, &b| main[a as usize].total_cmp(&main[b as usize]));
    cands.truncate(s.per_source * 4);
    let mut vs = s.verify.clone();
    vs.csv = None;
    let verified = verify::run_with(v, &vs, &cands)?;
    for r in verified
        .rows
        .iter()
        .filter(|r| r.verdict.is_under_trained())
        .take(s.per_source)
    {
        push(r.id, Source::UnderTrained, &mut out);
    }
    for h in HESITATIONS {
        if let Ok(ids) = v.vocab.encode(h) {
            if let [id] = ids.as_slice() {
                push(*id, Source::Hesitation, &mut out);
            }
        }
    }
    Ok(out)
}

/// Next-token log-probabilities of each context, and after each candidate appended.
pub fn run(s: &PauseSettings) -> Result<PauseReport> {
    let v = LoadedModel::load(&s.verify)?;
    run_with(&v, s)
}

/// [`run`] on a model already loaded (`generate --pause-token auto` ranks on the model
/// it then generates with).
pub fn run_with(v: &LoadedModel, s: &PauseSettings) -> Result<PauseReport> {
    let (ctxs, from) = contexts(v, s)?;
    let pool = collect(v, s).context("collecting pause-token candidates")?;
    let template = chat_template(&s.verify.model);
    // Decoded text of every token, to check uniqueness.
    let mut by_text: HashMap<&str, usize> = HashMap::new();
    for t in &v.audit.tokens {
        *by_text.entry(t.decoded.as_str()).or_default() += 1;
    }
    let mut kl_sum = vec![0f64; pool.len()];
    let mut kl_max = vec![0f64; pool.len()];
    let mut dh_sum = vec![0f64; pool.len()];
    let bar = crate::util::progress::bar_always(ctxs.len() as u64, "contexts");
    for ctx in &ctxs {
        let (kls, dhs) = match &v.runtime {
            Runtime::Local(lm) => disturbance_local(lm, &v.info.device, ctx, &pool)?,
            Runtime::Remote(client) => disturbance_remote(client, ctx, &pool)?,
        };
        for (k, (kl, dh)) in kls.into_iter().zip(dhs).enumerate() {
            kl_sum[k] += kl;
            kl_max[k] = kl_max[k].max(kl);
            dh_sum[k] += dh;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let n = ctxs.len() as f64;
    let mut candidates: Vec<Candidate> = pool
        .iter()
        .enumerate()
        .map(|(k, &(id, source))| {
            let tok = v.audit.token(id);
            let decoded = tok.map(|t| t.decoded.clone()).unwrap_or_default();
            Candidate {
                id,
                printable: printable(&decoded),
                unique: by_text.get(decoded.as_str()).copied().unwrap_or(0) == 1,
                reencodes: tok
                    .is_some_and(|t| matches!(t.category, Category::Ok | Category::OkSpecial)),
                not_in_template: decoded.trim().is_empty() || !template.contains(decoded.trim()),
                decoded,
                source,
                mean_kl: kl_sum[k] / n,
                max_kl: kl_max[k],
                entropy_delta: dh_sum[k] / n,
            }
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.passes()
            .cmp(&a.passes())
            .then(a.mean_kl.total_cmp(&b.mean_kl))
    });
    Ok(PauseReport {
        candidates,
        contexts: ctxs.len(),
        context_source: from,
        warnings: v.warnings.clone(),
    })
}

/// KL(p‖q) of the next-token distribution with each candidate appended to the context, and
/// the entropy change (bits), with the full logits of the in-process model.
fn disturbance_local(
    lm: &Lm,
    dev: &Device,
    ctx: &[u32],
    pool: &[(u32, Source)],
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut lm = lm.fork();
    lm.reset(true)?;
    let t = Tensor::from_vec(ctx.to_vec(), (1, ctx.len()), dev)?;
    let p = log_softmax(&lm.forward(&t, 0)?)?;
    let hp = entropy_bits(&p);
    let (mut kls, mut dhs) = (Vec::new(), Vec::new());
    for (id, _) in pool {
        let mut m = lm.fork();
        let t = Tensor::from_vec(vec![*id], (1, 1), dev)?;
        let q = log_softmax(&m.forward(&t, ctx.len())?)?;
        kls.push(
            p.iter()
                .zip(&q)
                .map(|(&lp, &lq)| (lp as f64).exp() * (lp as f64 - lq as f64))
                .sum(),
        );
        dhs.push(entropy_bits(&q) - hp);
    }
    Ok((kls, dhs))
}

/// The same through a serving engine, which returns only the top-k log-probabilities:
/// both distributions are cut to their top k and renormalized, and a token of p missing
/// from q's list is given q's smallest listed probability (docs/serving.md).
fn disturbance_remote(
    client: &Client,
    ctx: &[u32],
    pool: &[(u32, Source)],
) -> Result<(Vec<f64>, Vec<f64>)> {
    let top = |ids: &[u32]| -> Result<HashMap<u32, f64>> {
        let mut m: HashMap<u32, f64> = client.next_token_logprobs(ids)?.into_iter().collect();
        let z = m.values().map(|l| l.exp()).sum::<f64>().ln();
        m.values_mut().for_each(|l| *l -= z);
        Ok(m)
    };
    let p = top(ctx)?;
    let entropy = |m: &HashMap<u32, f64>| {
        -m.values().map(|l| l.exp() * l).sum::<f64>() / std::f64::consts::LN_2
    };
    let hp = entropy(&p);
    let got = crate::openai::pool::map(pool, client.endpoint.concurrency, |(id, _)| {
        let mut ids = ctx.to_vec();
        ids.push(*id);
        top(&ids)
    });
    let (mut kls, mut dhs) = (Vec::new(), Vec::new());
    for r in got {
        let q = r.unwrap_or_else(|| Err(anyhow::anyhow!("not run")))?;
        let floor = q.values().copied().fold(f64::INFINITY, f64::min);
        kls.push(
            p.iter()
                .map(|(i, lp)| lp.exp() * (lp - q.get(i).copied().unwrap_or(floor)))
                .sum::<f64>()
                .max(0.0),
        );
        dhs.push(entropy(&q) - hp);
    }
    Ok((kls, dhs))
}

fn log_softmax(logits: &Tensor) -> Result<Vec<f32>> {
    let l = candle_nn::ops::log_softmax(&logits.to_device(&Device::Cpu)?, 1)?;
    Ok(l.squeeze(0)?.to_vec1()?)
}

fn entropy_bits(logp: &[f32]) -> f64 {
    -logp
        .iter()
        .map(|&l| (l as f64).exp() * l as f64)
        .sum::<f64>()
        / std::f64::consts::LN_2
}

#[cfg(test)]
mod tests {
    use super::chat_template;
    use std::path::Path;

    /// A GGUF keeps its template in its metadata: SmolLM2's is ChatML, so `<|im_start|>`
    /// (a token a pause candidate must not be) is in it; a directory without one has none.
    #[test]
    fn chat_template_of_a_gguf_and_of_a_directory() {
        let g = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
        let t = chat_template(&g);
        assert!(
            t.contains("<|im_start|>") && t.contains("<|im_end|>"),
            "{t}"
        );
        let d = tempfile::tempdir().unwrap();
        assert_eq!(chat_template(d.path()), "");
        std::fs::write(
            d.path().join("tokenizer_config.json"),
            r#"{"chat_template": [{"name": "default", "template": "A {{x}}"}, {"name": "tool_use", "template": "B"}]}"#,
        )
        .unwrap();
        assert_eq!(chat_template(d.path()), "A {{x}}\nB");
        std::fs::write(d.path().join("chat_template.jinja"), "C\n").unwrap();
        assert_eq!(chat_template(d.path()), "C\n");
    }
}

//! `scan`: audit the tokenizer, compute every indicator from the memory-mapped embedding
//! matrices, and pick the candidate under-trained tokens (docs/usage.md). With a file of
//! training-token counts it also scores how well each indicator finds never-seen tokens.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::audit::{self, AuditReport, ByteKind, Category};
use crate::indicators::{self, reference, stats, Indicator, Indicators};
use crate::vocab::{self, LoadOptions, PieceKind, Vocab};
use crate::weights::Checkpoint;

/// Everything `scan` needs, resolved from the command line once.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub model: PathBuf,
    /// Tokenizer file or directory; the model directory when `None`.
    pub tokenizer: Option<PathBuf>,
    pub load: LoadOptions,
    /// Candidates are OK tokens at or below this percentile of the main indicator.
    pub percentile: f64,
    pub indicator: Option<Indicator>,
    pub embedding: Option<String>,
    pub unembedding: Option<String>,
    pub reference_ids: Option<Vec<u32>>,
    /// How reference rows are chosen when `reference_ids` is `None`.
    pub reference: ReferenceRule,
    pub counts: Option<PathBuf>,
}

/// How the reference rows are chosen when no ids are given (`--reference`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReferenceRule {
    /// The rows the tokenizer cannot produce; the fallback only when there are none.
    #[default]
    Auto,
    /// The fallback as if the tokenizer named no rows: near-duplicate clusters, else the
    /// reference-free pass.
    Fallback,
    /// The reference-free pass, skipping the other rules.
    FirstPass,
}

impl ReferenceRule {
    pub const ALL: [ReferenceRule; 3] = [
        ReferenceRule::Auto,
        ReferenceRule::Fallback,
        ReferenceRule::FirstPass,
    ];
    /// The `--reference` value.
    pub fn name(self) -> &'static str {
        match self {
            ReferenceRule::Auto => "auto",
            ReferenceRule::Fallback => "fallback",
            ReferenceRule::FirstPass => "first-pass",
        }
    }
    pub fn parse(s: &str) -> Option<ReferenceRule> {
        ReferenceRule::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// Which rule gave the reference rows (`reference_kind` in the JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceKind {
    /// `--reference-ids`.
    Given,
    /// Rows the tokenizer cannot produce ([`auto_reference`]).
    Auto,
    /// Fallback: clusters of near-duplicate rows.
    NearDuplicates,
    /// Fallback: the reference-free pass.
    FirstPass,
}

impl ReferenceKind {
    pub fn name(self) -> &'static str {
        match self {
            ReferenceKind::Given => "given",
            ReferenceKind::Auto => "auto",
            ReferenceKind::NearDuplicates => "near_duplicates",
            ReferenceKind::FirstPass => "first_pass",
        }
    }
    /// Whether the rows came from the fallback rather than from the tokenizer or the user.
    pub fn is_fallback(self) -> bool {
        matches!(
            self,
            ReferenceKind::NearDuplicates | ReferenceKind::FirstPass
        )
    }
}

impl ScanSettings {
    pub fn new(model: PathBuf) -> Self {
        ScanSettings {
            model,
            tokenizer: None,
            load: LoadOptions::default(),
            percentile: 2.0,
            indicator: None,
            embedding: None,
            unembedding: None,
            reference_ids: None,
            reference: ReferenceRule::Auto,
            counts: None,
        }
    }

    /// Refuse a percentile outside 0..=100 (the threshold would be meaningless).
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=100.0).contains(&self.percentile) {
            anyhow::bail!(
                "--percentile must be between 0 and 100, got {}",
                self.percentile
            );
        }
        Ok(())
    }
}

/// A matrix as found in the checkpoint, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MatrixInfo {
    pub name: String,
    pub file: String,
    pub rows: usize,
    pub cols: usize,
    pub dtype: String,
}

/// How well the indicators separate never-seen tokens (count = 0) from seen ones.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Evaluation {
    /// Tokens scored: OK/OK_SPECIAL tokens that have a count.
    pub scored: usize,
    pub unseen: usize,
    /// ROC AUC of "low indicator ⇒ unseen", per indicator name.
    pub auc: Vec<(&'static str, f64)>,
    pub precision: f64,
    pub recall: f64,
    pub true_positives: usize,
}

pub struct ScanReport {
    pub vocab: Vocab,
    pub audit: AuditReport,
    pub indicators: Indicators,
    pub input: MatrixInfo,
    pub output: Option<MatrixInfo>,
    pub tied: bool,
    pub tie_reason: String,
    pub main: Indicator,
    pub percentile: f64,
    pub threshold: f64,
    /// Percentile rank of the main indicator among OK tokens, per row.
    pub percentile_rank: Vec<f64>,
    pub candidates: Vec<u32>,
    /// Rows whose weights hold NaN, infinite or out-of-range values: never candidates,
    /// never in a mean, a component or the reference, NaN in every indicator.
    pub non_finite: Vec<u32>,
    /// The reference rows and why they were chosen, in one line.
    pub reference_source: String,
    /// Which rule gave the reference rows.
    pub reference_kind: ReferenceKind,
    /// Near-duplicate clusters, when they gave the reference (each sorted).
    pub reference_clusters: Vec<Vec<u32>>,
    /// Training-token count per row, when `--counts` was given.
    pub counts: Option<Vec<Option<u64>>>,
    pub evaluation: Option<Evaluation>,
}

impl ScanReport {
    pub fn is_candidate(&self, id: u32) -> bool {
        self.candidates.binary_search(&id).is_ok()
    }
    /// Category of a row, `None` for rows with no token (padding rows past the vocabulary).
    pub fn category(&self, id: u32) -> Option<Category> {
        self.audit.token(id).map(|t| t.category)
    }
}

pub fn run(s: &ScanSettings) -> Result<ScanReport> {
    run_with(s, None)
}

/// Scan with a tokenizer already loaded and audited (`pause`, which has both), or load
/// and audit it here.
pub fn run_with(s: &ScanSettings, loaded: Option<(Vocab, AuditReport)>) -> Result<ScanReport> {
    let ckpt = Checkpoint::open(&s.model)?;
    let tok_path = s.tokenizer.clone().unwrap_or_else(|| s.model.clone());
    // The tokenizer audit and the reference-free part of the indicators (norms, mean
    // row, principal component) run side by side.
    let (tok, pre) = rayon::join(
        || -> Result<(Vocab, AuditReport)> {
            if let Some(l) = loaded {
                return Ok(l);
            }
            let vocab = vocab::load(&tok_path, &s.load)?;
            let audit = audit::audit(&vocab);
            Ok((vocab, audit))
        },
        || -> Result<_> {
            let mut emb = ckpt.embeddings(s.embedding.as_deref(), s.unembedding.as_deref())?;
            mask_broken_rows(&mut emb)?;
            let (norms, prepared) = rayon::join(
                || indicators::row_norms(&emb.input),
                || indicators::prepare(emb.unembedding()),
            );
            Ok((emb, norms, prepared))
        },
    );
    let (vocab, audit) = tok?;
    let (emb, in_norm, prepared) = pre?;
    let tied = emb.output.is_none();
    let input = &emb.input;
    let output = emb.unembedding();
    if let Some(o) = &emb.output {
        if o.rows != input.rows {
            bail!(
                "{}: embedding '{}' has {} rows but unembedding '{}' has {}",
                s.model.display(),
                input.name,
                input.rows,
                o.name,
                o.rows
            );
        }
    }
    if vocab.len() > input.rows {
        bail!(
            "{}: the tokenizer has {} ids but embedding '{}' in {} has only {} rows: the \
             tokenizer does not belong to this model (use --tokenizer)",
            vocab.source.display(),
            vocab.len(),
            input.name,
            input.file.display(),
            input.rows
        );
    }
    let chosen = match &s.reference_ids {
        Some(ids) => {
            if let Some(bad) = ids.iter().find(|&&i| i as usize >= input.rows) {
                bail!(
                    "--reference-ids: id {bad} is outside the {} rows",
                    input.rows
                );
            }
            if ids.is_empty() {
                bail!("--reference-ids: no ids given");
            }
            Chosen {
                ids: ids.clone(),
                source: format!("given: {} ids", ids.len()),
                kind: ReferenceKind::Given,
                clusters: Vec::new(),
            }
        }
        None => choose_reference(s.reference, &vocab, &audit, output, &prepared),
    };
    let Chosen {
        ids: reference,
        source: reference_source,
        kind: reference_kind,
        clusters: reference_clusters,
    } = chosen;
    // Rows with broken weights are no reference (the mean skips them anyway).
    let reference: Vec<u32> = reference
        .into_iter()
        .filter(|&i| !input.is_masked(i as usize))
        .collect();
    let non_finite: Vec<u32> = (0..input.rows as u32)
        .filter(|&i| input.is_masked(i as usize))
        .collect();
    let ind = indicators::finish(input.rows, in_norm, output, &reference, prepared);
    let main = s.indicator.unwrap_or(Indicator::default_for(tied));
    let values = ind.get(main);

    let n_tok = vocab.len() as u32;
    let category = |id: u32| audit.token(id).map(|t| t.category);
    let broken = |i: u32| input.is_masked(i as usize);
    let ok_values: Vec<f64> = (0..n_tok)
        .filter(|&i| category(i) == Some(Category::Ok) && !broken(i))
        .map(|i| values[i as usize])
        .collect();
    let threshold = stats::percentile(&ok_values, s.percentile);
    let mut sorted_ok = ok_values.clone();
    sorted_ok.sort_by(f64::total_cmp);
    let percentile_rank: Vec<f64> = values
        .iter()
        .map(|&v| {
            if v.is_nan() {
                f64::NAN
            } else {
                stats::percentile_rank(&sorted_ok, v)
            }
        })
        .collect();
    let candidates: Vec<u32> = (0..n_tok)
        .filter(|&i| {
            category(i).is_some_and(|c| c.is_ok()) && !broken(i) && values[i as usize] <= threshold
        })
        .collect();

    let counts = match &s.counts {
        Some(p) => Some(read_counts(p, input.rows)?),
        None => None,
    };
    let evaluation = counts
        .as_ref()
        .map(|c| evaluate(&audit, &ind, c, &candidates, n_tok));
    let info = |m: &crate::weights::Matrix| MatrixInfo {
        name: m.name.clone(),
        file: m.file.display().to_string(),
        rows: m.rows,
        cols: m.cols,
        dtype: m.dtype.name().to_string(),
    };
    Ok(ScanReport {
        input: info(input),
        output: emb.output.as_ref().map(info),
        tied,
        tie_reason: ckpt.tie_reason().to_string(),
        main,
        percentile: s.percentile,
        threshold,
        percentile_rank,
        candidates,
        non_finite,
        reference_source,
        reference_kind,
        reference_clusters,
        counts,
        evaluation,
        indicators: ind,
        audit,
        vocab,
    })
}

/// More rows than this fraction holding non-finite values is no broken token but a broken
/// file: the scan stops instead of ranking noise.
pub const MAX_BROKEN_FRACTION: f64 = 0.1;

/// Find the rows whose weights are not finite numbers (in either matrix) and leave them
/// out of every indicator ([`crate::weights::Matrix::with_mask`]); refuse a file where
/// they are more than [`MAX_BROKEN_FRACTION`] of the rows.
fn mask_broken_rows(emb: &mut crate::weights::Embeddings<'_>) -> Result<()> {
    let mut bad = emb.input.non_finite_rows();
    let check = |m: &crate::weights::Matrix, bad: &[bool]| -> Result<()> {
        let n = bad.iter().filter(|&&b| b).count();
        if n as f64 > MAX_BROKEN_FRACTION * m.rows as f64 {
            let first = bad.iter().position(|&b| b).unwrap_or(0);
            bail!(
                "{}: {n} of {} rows of '{}' hold NaN, infinite or out-of-range values (the \
                 first is row {first}): the data is not what the header says (a corrupt or \
                 shifted file, or the wrong dtype)",
                m.file.display(),
                m.rows,
                m.name
            );
        }
        Ok(())
    };
    check(&emb.input, &bad)?;
    if let Some(o) = &emb.output {
        let out_bad = o.non_finite_rows();
        check(o, &out_bad)?;
        for (a, b) in bad.iter_mut().zip(out_bad) {
            *a |= b;
        }
    }
    if bad.iter().any(|&b| b) {
        let mask = std::sync::Arc::new(bad);
        emb.input = emb.input.clone().with_mask(mask.clone());
        if let Some(o) = emb.output.take() {
            emb.output = Some(o.with_mask(mask));
        }
    }
    Ok(())
}

/// Reference rows with the rule that gave them.
struct Chosen {
    ids: Vec<u32>,
    source: String,
    kind: ReferenceKind,
    clusters: Vec<Vec<u32>>,
}

/// The reference rows by `rule` (docs/methods.md §4): the rows the tokenizer cannot
/// produce, else near-duplicate clusters among the OK tokens, else the reference-free
/// pass. Never empty for a matrix with at least one OK token.
fn choose_reference(
    rule: ReferenceRule,
    vocab: &Vocab,
    audit: &AuditReport,
    out: &crate::weights::Matrix,
    prepared: &indicators::Prepared,
) -> Chosen {
    let mut why = String::new();
    if rule == ReferenceRule::Auto {
        let (ids, how) = auto_reference(vocab, audit, out.rows);
        if !ids.is_empty() {
            return Chosen {
                ids,
                source: how,
                kind: ReferenceKind::Auto,
                clusters: Vec::new(),
            };
        }
        why = "no unreachable, reserved, unused, control or padding rows".to_string();
    } else {
        why.push_str(&format!("forced by --reference {}", rule.name()));
    }
    // The pool: tokens that re-encode to themselves (the candidates' pool), else every row.
    let mut pool: Vec<u32> = audit
        .tokens
        .iter()
        .filter(|t| {
            t.category.is_ok() && (t.id as usize) < out.rows && !out.is_masked(t.id as usize)
        })
        .map(|t| t.id)
        .collect();
    if pool.is_empty() {
        pool = (0..out.rows as u32)
            .filter(|&i| !out.is_masked(i as usize))
            .collect();
    }
    if rule != ReferenceRule::FirstPass {
        let clusters = reference::near_duplicates(out, &pool);
        if !clusters.is_empty() {
            let mut ids: Vec<u32> = clusters.iter().flatten().copied().collect();
            ids.sort_unstable();
            ids.dedup();
            let source = format!(
                "fallback, {why}: {} near-duplicate rows (cosine >= {}) in {} cluster{} of \
                 >= {} rows",
                ids.len(),
                reference::DUP_COSINE,
                clusters.len(),
                if clusters.len() == 1 { "" } else { "s" },
                reference::MIN_CLUSTER
            );
            return Chosen {
                ids,
                source,
                kind: ReferenceKind::NearDuplicates,
                clusters,
            };
        }
        why.push_str(&format!(
            "; no near-duplicate clusters (cosine >= {}, >= {} rows)",
            reference::DUP_COSINE,
            reference::MIN_CLUSTER
        ));
    }
    let ids = reference::first_pass(out, prepared, &pool);
    let source = format!(
        "fallback, {why}: reference-free pass, the {} rows lowest on out_cos_pc measured \
         against the rows lowest on out_cos_pc against the mean row ({}% of {} tokens each)",
        ids.len(),
        reference::FIRST_PASS_FRACTION * 100.0,
        pool.len()
    );
    Chosen {
        ids,
        source,
        kind: ReferenceKind::FirstPass,
        clusters: Vec::new(),
    }
}

/// Rows the tokenizer can never produce: the published reference set for the unembedding
/// indicators. Unreachable tokens, byte tokens that valid UTF-8 never contains, pieces
/// declared unused (GGUF `token_type` UNUSED), reserved/unused specials, control pieces
/// that no text produces, and rows with no token (holes, padding rows past the
/// vocabulary). Empty for many recent byte-level vocabularies: see [`ReferenceRule`].
pub fn auto_reference(vocab: &Vocab, audit: &AuditReport, rows: usize) -> (Vec<u32>, String) {
    let mut set = BTreeSet::new();
    let (mut unreach, mut bytes, mut unused, mut reserved, mut control) = (0, 0, 0, 0, 0);
    for t in &audit.tokens {
        let lower = t.raw.to_ascii_lowercase();
        if t.category.is_unreachable() {
            unreach += set.insert(t.id) as usize;
        } else if t.byte_kind() == Some(ByteKind::UnusedUtf8) {
            bytes += set.insert(t.id) as usize;
        } else if vocab.kinds.get(t.id as usize) == Some(&PieceKind::Unused) {
            unused += set.insert(t.id) as usize;
        } else if vocab.special_ids.contains(&t.id)
            && (lower.contains("reserved") || lower.contains("unused"))
        {
            reserved += set.insert(t.id) as usize;
        } else if vocab.kinds.get(t.id as usize) == Some(&PieceKind::Control) && !t.category.is_ok()
        {
            // A control piece (GGUF/SentencePiece type CONTROL) that no text produces.
            control += set.insert(t.id) as usize;
        }
    }
    // Ids with no token: holes in the vocabulary and padding rows past its end.
    let mut padding = 0;
    for id in 0..rows as u32 {
        if audit.token(id).is_none() {
            padding += set.insert(id) as usize;
        }
    }
    let mut how = format!(
        "auto: {unreach} unreachable, {bytes} invalid-UTF-8 bytes, {unused} unused pieces, \
         {reserved} reserved specials, {padding} rows without a token"
    );
    if control > 0 {
        how.push_str(&format!(", {control} control pieces no text produces"));
    }
    (set.into_iter().collect(), how)
}

/// Read `token_id,count` rows (a header line is allowed). Ids past the matrix are an error.
pub fn read_counts(path: &Path, rows: usize) -> Result<Vec<Option<u64>>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(crate::util::text::read_input(path)?);
    let mut counts = vec![None; rows];
    let mut n = 0;
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: line {}", path.display(), i + 1))?;
        let (Some(a), Some(b)) = (rec.get(0), rec.get(1)) else {
            bail!(
                "{}: line {}: expected token_id,count",
                path.display(),
                i + 1
            );
        };
        let (Ok(id), Ok(c)) = (a.trim().parse::<usize>(), b.trim().parse::<u64>()) else {
            if i == 0 {
                continue; // header
            }
            // A stray quote can make a field swallow the rest of the file: quote a little.
            let short = |s: &str| s.chars().take(40).collect::<String>();
            bail!(
                "{}: line {}: expected token_id,count as integers, got {:?},{:?}",
                path.display(),
                i + 1,
                short(a),
                short(b)
            );
        };
        if id >= rows {
            bail!(
                "{}: line {}: token id {id} is outside the {rows} embedding rows",
                path.display(),
                i + 1
            );
        }
        counts[id] = Some(c);
        n += 1;
    }
    if n == 0 {
        bail!("{}: no token_id,count rows", path.display());
    }
    Ok(counts)
}

fn evaluate(
    audit: &AuditReport,
    ind: &Indicators,
    counts: &[Option<u64>],
    candidates: &[u32],
    n_tok: u32,
) -> Evaluation {
    // Score the candidate pool: tokens that re-encode to themselves and have a count.
    let pool: Vec<u32> = (0..n_tok)
        .filter(|&i| audit.token(i).is_some_and(|t| t.category.is_ok()))
        .filter(|&i| counts[i as usize].is_some())
        // Rows with broken weights have no indicator (NaN) to score.
        .filter(|&i| !ind.in_norm[i as usize].is_nan())
        .collect();
    let unseen: Vec<bool> = pool
        .iter()
        .map(|&i| counts[i as usize] == Some(0))
        .collect();
    let auc = Indicator::ALL
        .iter()
        .map(|&k| {
            let v = ind.get(k);
            let scores: Vec<f64> = pool.iter().map(|&i| v[i as usize]).collect();
            (k.name(), stats::auc_low_is_positive(&scores, &unseen))
        })
        .collect();
    let n_unseen = unseen.iter().filter(|&&u| u).count();
    let cand_scored: Vec<u32> = candidates
        .iter()
        .copied()
        .filter(|&i| counts[i as usize].is_some())
        .collect();
    let tp = cand_scored
        .iter()
        .filter(|&&i| counts[i as usize] == Some(0))
        .count();
    let ratio = |a: usize, b: usize| {
        if b == 0 {
            f64::NAN
        } else {
            a as f64 / b as f64
        }
    };
    Evaluation {
        scored: pool.len(),
        unseen: n_unseen,
        auc,
        precision: ratio(tp, cand_scored.len()),
        recall: ratio(tp, n_unseen),
        true_positives: tp,
    }
}

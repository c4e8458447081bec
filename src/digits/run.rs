//! Measuring every corpus with every tokenizer under every scheme.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use rayon::prelude::*;

use super::data::{Corpus, CorpusKind, RecordKind};
use super::metrics::{
    fractions_aligned, probe_text, ArithStats, Coverage, ProbeCut, TextStats, PROBE_PAIRS,
};
use super::numbers::{digit_runs, has_digit, numbers, Cut, Encoded};
use super::scheme::{Placement, Scheme, Schemed};
use crate::vocab::Vocab;

/// A tokenizer to compare, with the name it has in tables.
pub struct NamedVocab<'a> {
    /// The name in tables, JSON and CSV (unique within one run).
    pub name: String,
    /// The loaded tokenizer.
    pub vocab: &'a Vocab,
}

/// What the report says about each tokenizer.
#[derive(Debug, Clone)]
pub struct TokInfo {
    /// The name given in [`NamedVocab`].
    pub name: String,
    /// The file or directory it was loaded from.
    pub path: String,
    /// The tokenizer file format.
    pub format: String,
    /// What the loader found about it, for the reader.
    pub detail: String,
    /// Number of ids.
    pub vocab_size: usize,
    /// Digit strings the vocabulary holds as one token, before any scheme.
    pub coverage: Coverage,
    /// Where each scheme's digit stage went in this pipeline.
    pub placements: Vec<(Scheme, Placement)>,
}

/// What the report says about each corpus: its size, without the documents.
#[derive(Debug, Clone)]
pub struct CorpusInfo {
    /// The name in tables.
    pub name: String,
    /// The file read, `None` for generated numbers.
    pub path: Option<String>,
    /// How its documents were cut.
    pub kind: CorpusKind,
    /// Documents.
    pub docs: usize,
    /// Bytes of all documents.
    pub bytes: usize,
    /// Whitespace-separated words of all documents.
    pub words: usize,
    /// Arithmetic records per kind.
    pub records: BTreeMap<RecordKind, usize>,
    /// Annotations that could not be used (see [`Corpus::skipped`]).
    pub skipped: usize,
}

/// Text statistics of one corpus under one tokenizer and scheme; indices, not names,
/// into the report's lists.
#[derive(Debug, Clone)]
pub struct TextResult {
    /// Index into [`DigitsReport::corpora`].
    pub corpus: usize,
    /// Index into [`DigitsReport::tokenizers`].
    pub tokenizer: usize,
    /// The scheme measured.
    pub scheme: Scheme,
    /// What was counted.
    pub stats: TextStats,
}

/// Arithmetic statistics of one record kind of one corpus under one tokenizer and
/// scheme.
#[derive(Debug, Clone)]
pub struct ArithResult {
    /// Index into [`DigitsReport::corpora`].
    pub corpus: usize,
    /// The record kind, since a GSM8K corpus has two.
    pub kind: RecordKind,
    /// Index into [`DigitsReport::tokenizers`].
    pub tokenizer: usize,
    /// The scheme measured.
    pub scheme: Scheme,
    /// What was counted.
    pub stats: ArithStats,
}

/// One decimal pair of the probe under one tokenizer and scheme.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// The smaller and the larger number (see [`PROBE_PAIRS`]).
    pub pair: (String, String),
    /// Index into [`DigitsReport::tokenizers`].
    pub tokenizer: usize,
    /// The scheme measured.
    pub scheme: Scheme,
    /// How both sides were cut.
    pub cut: ProbeCut,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct DigitsReport {
    /// The tokenizers, in the order given.
    pub tokenizers: Vec<TokInfo>,
    /// The schemes, in the order compared.
    pub schemes: Vec<Scheme>,
    /// The corpora, in the order read.
    pub corpora: Vec<CorpusInfo>,
    /// One result per corpus, tokenizer and scheme.
    pub text: Vec<TextResult>,
    /// One result per record kind found, tokenizer and scheme.
    pub arith: Vec<ArithResult>,
    /// One result per probe pair, tokenizer and scheme.
    pub probe: Vec<ProbeResult>,
    /// The seed of the generated numbers, when they were used.
    pub seed: Option<u64>,
}

impl DigitsReport {
    /// The text statistics of one cell of the comparison, for tables laid out by hand.
    pub fn text_for(&self, corpus: usize, tokenizer: usize, scheme: Scheme) -> Option<&TextStats> {
        self.text
            .iter()
            .find(|r| r.corpus == corpus && r.tokenizer == tokenizer && r.scheme == scheme)
            .map(|r| &r.stats)
    }
    /// The arithmetic statistics of one cell of the comparison, `None` when the corpus
    /// has no records of that kind.
    pub fn arith_for(
        &self,
        corpus: usize,
        kind: RecordKind,
        tokenizer: usize,
        scheme: Scheme,
    ) -> Option<&ArithStats> {
        self.arith
            .iter()
            .find(|r| {
                r.corpus == corpus
                    && r.kind == kind
                    && r.tokenizer == tokenizer
                    && r.scheme == scheme
            })
            .map(|r| &r.stats)
    }
}

/// The text statistics and number cuts of one corpus under one tokenizer and scheme.
struct Measured {
    stats: TextStats,
    /// Per document, the cuts of `corpus.numbers[doc]`.
    cuts: Vec<Vec<Cut>>,
}

fn encode_error(sc: &Schemed, tok: &str, corpus: &Corpus, doc: usize, e: String) -> anyhow::Error {
    anyhow!(
        "{tok} ({}): cannot encode document {} of {}: {e}",
        sc.scheme.label(),
        doc + 1,
        corpus.name
    )
}

fn measure_doc(
    sc: &Schemed,
    tok: &str,
    corpus: &Corpus,
    i: usize,
    stats: &mut TextStats,
) -> Result<Vec<Cut>> {
    let doc = corpus.docs[i].as_str();
    stats.docs += 1;
    stats.bytes += doc.len() as u64;
    stats.words += doc.split_whitespace().count() as u64;
    if !has_digit(doc) {
        let n = sc
            .count(doc)
            .map_err(|e| encode_error(sc, tok, corpus, i, e))?;
        stats.tokens += n as u64;
        return Ok(Vec::new());
    }
    let enc = sc
        .encoding(doc)
        .map_err(|e| encode_error(sc, tok, corpus, i, e))?;
    stats.tokens += enc.len() as u64;
    let encoded = Encoded::new(doc, enc.get_offsets(), enc.get_tokens());
    for run in digit_runs(doc) {
        stats.add_run(&encoded.cut(&run), sc.scheme);
    }
    Ok(corpus.numbers[i]
        .iter()
        .map(|n| encoded.cut(&n.span))
        .collect())
}

fn measure(
    sc: &Schemed,
    tok: &str,
    corpus: &Corpus,
    pb: &indicatif::ProgressBar,
) -> Result<Measured> {
    let (stats, mut cuts) = (0..corpus.docs.len())
        .into_par_iter()
        .try_fold(
            || (TextStats::default(), Vec::new()),
            |(mut stats, mut cuts), i| {
                let c = measure_doc(sc, tok, corpus, i, &mut stats)?;
                if !c.is_empty() {
                    cuts.push((i, c));
                }
                pb.inc(1);
                Ok::<_, anyhow::Error>((stats, cuts))
            },
        )
        .try_reduce(
            || (TextStats::default(), Vec::new()),
            |(a, mut ca), (b, cb)| {
                ca.extend(cb);
                Ok((a.merge(b), ca))
            },
        )?;
    cuts.sort_by_key(|(i, _)| *i);
    let mut per_doc: Vec<Vec<Cut>> = vec![Vec::new(); corpus.docs.len()];
    for (i, c) in cuts {
        per_doc[i] = c;
    }
    Ok(Measured {
        stats,
        cuts: per_doc,
    })
}

/// Arithmetic statistics per record kind from the measured cuts.
fn arith_stats(corpus: &Corpus, m: &Measured) -> BTreeMap<RecordKind, ArithStats> {
    let mut out: BTreeMap<RecordKind, ArithStats> = BTreeMap::new();
    let empty = Cut::default();
    let cut_of = |r: super::data::NumRef| m.cuts[r.doc].get(r.idx).unwrap_or(&empty);
    for rec in &corpus.records {
        let integer = rec
            .operands
            .iter()
            .chain(std::iter::once(&rec.answer))
            .all(|&r| corpus.number(r).1.integer);
        let ops: Vec<Cut> = rec.operands.iter().map(|&r| cut_of(r).clone()).collect();
        out.entry(rec.kind)
            .or_default()
            .add(&ops, cut_of(rec.answer), integer);
    }
    out
}

/// Cut both sides of each probe pair.
fn probe(sc: &Schemed) -> Result<Vec<((String, String), ProbeCut)>> {
    let mut out = Vec::new();
    for (a, b) in PROBE_PAIRS {
        let text = probe_text(a, b);
        let enc = sc
            .encoding(&text)
            .map_err(|e| anyhow!("cannot encode the probe {text:?}: {e}"))?;
        let encoded = Encoded::new(&text, enc.get_offsets(), enc.get_tokens());
        let nums = numbers(&text);
        let [l, r] = &nums[..] else {
            return Err(anyhow!("probe {text:?}: expected two numbers"));
        };
        let frac = |span: &std::ops::Range<usize>| -> Cut {
            let run = digit_runs(&text[span.clone()])
                .into_iter()
                .nth(1)
                .map(|x| span.start + x.start..span.start + x.end);
            run.map(|x| encoded.cut(&x)).unwrap_or_default()
        };
        out.push((
            (a.to_string(), b.to_string()),
            ProbeCut {
                left: encoded.cut_with_pieces(&l.span),
                right: encoded.cut_with_pieces(&r.span),
                fraction_aligned: fractions_aligned(&frac(&l.span), &frac(&r.span)),
            },
        ));
    }
    Ok(out)
}

/// Measure every corpus with every tokenizer under every scheme.
pub fn analyze(
    toks: &[NamedVocab],
    corpora: &[Corpus],
    schemes: &[Scheme],
    seed: Option<u64>,
) -> Result<DigitsReport> {
    let total: u64 = corpora.iter().map(|c| c.docs.len() as u64).sum::<u64>()
        * (toks.len() * schemes.len()) as u64;
    let pb = crate::util::progress::bar(total, "digits");
    let mut report = DigitsReport {
        tokenizers: Vec::new(),
        schemes: schemes.to_vec(),
        corpora: corpora
            .iter()
            .map(|c| {
                let mut records = BTreeMap::new();
                for r in &c.records {
                    *records.entry(r.kind).or_default() += 1;
                }
                CorpusInfo {
                    name: c.name.clone(),
                    path: c.path.as_ref().map(|p| p.display().to_string()),
                    kind: c.kind.clone(),
                    docs: c.docs.len(),
                    bytes: c.bytes(),
                    words: c.words(),
                    records,
                    skipped: c.skipped,
                }
            })
            .collect(),
        text: Vec::new(),
        arith: Vec::new(),
        probe: Vec::new(),
        seed,
    };
    for (ti, t) in toks.iter().enumerate() {
        let mut placements = Vec::new();
        for &scheme in schemes {
            let sc =
                Schemed::new(&t.vocab.tokenizer, scheme).map_err(|e| anyhow!("{}: {e}", t.name))?;
            placements.push((scheme, sc.placement));
            for (ci, corpus) in corpora.iter().enumerate() {
                let m = measure(&sc, &t.name, corpus, &pb)?;
                for (kind, stats) in arith_stats(corpus, &m) {
                    report.arith.push(ArithResult {
                        corpus: ci,
                        kind,
                        tokenizer: ti,
                        scheme,
                        stats,
                    });
                }
                report.text.push(TextResult {
                    corpus: ci,
                    tokenizer: ti,
                    scheme,
                    stats: m.stats,
                });
            }
            for (pair, cut) in probe(&sc).map_err(|e| anyhow!("{}: {e}", t.name))? {
                report.probe.push(ProbeResult {
                    pair,
                    tokenizer: ti,
                    scheme,
                    cut,
                });
            }
        }
        report.tokenizers.push(TokInfo {
            name: t.name.clone(),
            path: t.vocab.source.display().to_string(),
            format: t.vocab.format.name().to_string(),
            detail: t.vocab.detail.clone(),
            vocab_size: t.vocab.len(),
            coverage: Coverage::measure(&t.vocab.tokenizer),
            placements,
        });
    }
    pb.finish_and_clear();
    Ok(report)
}

//! The digits JSON's one schema (`digits --json`): the types the command serializes and
//! the report deserializes, built once from a [`DigitsReport`] by
//! [`DigitsJson::from_report`].
//!
//! The file's keys come out in alphabetical order because the writer goes through a
//! `serde_json::Value` (whose maps are sorted), so the field order below is free to
//! follow the meaning. Ratios with a zero denominator are NaN in the library and `null`
//! in the file: every ratio here is an `Option<f64>`, `None` exactly when the ratio is
//! not finite, so a file read back is the value that was written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::metrics::{ArithStats, Coverage, TextStats};
use super::run::{DigitsReport, TokInfo};

/// A ratio as the file holds it: `null` where the library has NaN or an infinity (what
/// `serde_json` would write for those anyway, but read back without failing).
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// One `digits --json` file: the schemes compared, the tokenizers and sources measured,
/// and one row per (source, tokenizer, scheme) for text, arithmetic and the probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigitsJson {
    /// The seed of the generated numbers, `null` when none were generated, so a run can
    /// be repeated.
    pub seed: Option<u64>,
    /// The schemes in the order they were compared (the report's column order).
    pub schemes: Vec<SchemeEntry>,
    /// The tokenizers in the order they were given.
    pub tokenizers: Vec<TokenizerEntry>,
    /// The corpora in the order they were read.
    pub sources: Vec<SourceEntry>,
    /// Numbers in running text.
    pub text: Vec<TextRow>,
    /// Arithmetic alignment, one row per record kind found in a source.
    pub arith: Vec<ArithRow>,
    /// The decimal-comparison probe, one row per pair.
    pub probe: Vec<ProbeRow>,
}

/// A scheme by its key (what rows refer to) with what a reader sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemeEntry {
    /// The key the rows use (`own`, `1`, `l2r`, `r2l`), stable across versions.
    pub key: String,
    /// The name tables show.
    pub label: String,
    /// The digit-splitting regex, `null` for the tokenizer's own handling.
    pub pattern: Option<String>,
}

/// A tokenizer and what its vocabulary can do with digits before any scheme applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerEntry {
    /// The name rows refer to it by.
    pub name: String,
    /// The file or directory it was loaded from.
    pub path: String,
    /// The tokenizer file format.
    pub format: String,
    /// What the loader found about it (model kind, pre-tokenizer), for the reader.
    pub detail: String,
    /// Number of ids.
    pub vocab_size: usize,
    /// For 1-, 2- and 3-digit strings (in that order).
    pub coverage: Vec<CoverageEntry>,
    /// Scheme key → whether every group the scheme makes is one token of this vocabulary;
    /// only schemes that cut groups (not `own`).
    pub expresses: BTreeMap<String, bool>,
    /// Scheme key → where its digit stage went in this tokenizer's pipeline, since a
    /// scheme placed after a prefixing stage behaves differently from one in front.
    pub digit_stage: BTreeMap<String, String>,
}

/// How the vocabulary holds the digit strings of one length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageEntry {
    /// The length: 1, 2 or 3.
    pub digits: usize,
    /// Strings of that length that are one token.
    pub single: u32,
    /// Strings of that length (leading zeros included).
    pub total: u32,
    /// Number of tokens (as a string key, JSON objects have no other) → strings that took
    /// that many.
    pub by_token_count: BTreeMap<String, u32>,
    /// A few strings that are not one token, with their pieces (`586 → 58|6`).
    pub examples: Vec<String>,
}

/// One corpus as it was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceEntry {
    /// The name rows refer to it by.
    pub name: String,
    /// The file it was read from, `null` for generated numbers.
    pub path: Option<String>,
    /// `text`, `arith`, `pud` or `generated`.
    pub kind: String,
    /// Documents read.
    pub docs: usize,
    /// Bytes of all documents.
    pub bytes: usize,
    /// Whitespace-separated words of all documents.
    pub words: usize,
    /// Record kind key → arithmetic records of that kind.
    pub records: BTreeMap<String, usize>,
    /// Annotations that could not be used, so a reader knows what the rates leave out.
    pub skipped_annotations: usize,
}

/// Text statistics of one source under one tokenizer and scheme: the sums, and the
/// ratios derived from them (`null` where the denominator is zero).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextRow {
    /// The source's name (see [`SourceEntry::name`]).
    pub source: String,
    /// The tokenizer's name (see [`TokenizerEntry::name`]).
    pub tokenizer: String,
    /// The scheme's key (see [`SchemeEntry::key`]).
    pub scheme: String,
    /// Documents measured.
    pub docs: u64,
    /// Bytes of those documents.
    pub bytes: u64,
    /// Whitespace-separated words.
    pub words: u64,
    /// Tokens of the whole documents.
    pub tokens: u64,
    /// Digit runs.
    pub numbers: u64,
    /// Tokens the digit runs took.
    pub number_tokens: u64,
    /// Digits in the digit runs.
    pub digits: u64,
    /// `number_tokens / numbers`.
    pub tokens_per_number: Option<f64>,
    /// `digits / number_tokens`.
    pub digits_per_token: Option<f64>,
    /// `bytes / tokens`.
    pub bytes_per_token: Option<f64>,
    /// `tokens / words`.
    pub tokens_per_word: Option<f64>,
    /// `tokens / docs`.
    pub tokens_per_doc: Option<f64>,
    /// Digit groups the scheme made.
    pub groups: u64,
    /// Groups the vocabulary had to cut further.
    pub split_groups: u64,
    /// `split_groups / groups`.
    pub split_group_rate: Option<f64>,
    /// Digit-group shape (`3+3+1`) → digit runs cut that way.
    pub shapes: BTreeMap<String, u64>,
}

/// Arithmetic alignment of one record kind of one source under one tokenizer and scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArithRow {
    /// The source's name (see [`SourceEntry::name`]).
    pub source: String,
    /// The record kind key (`problem`, `final`, `calc`), since one GSM8K source has two.
    pub records_kind: String,
    /// The tokenizer's name (see [`TokenizerEntry::name`]).
    pub tokenizer: String,
    /// The scheme's key (see [`SchemeEntry::key`]).
    pub scheme: String,
    /// Records measured.
    pub records: u64,
    /// Records whose numbers are all integers: alignment is measured on these.
    pub integer_records: u64,
    /// Integer records whose answer has more digits than the longest operand.
    pub answer_longer: u64,
    /// `answer_longer / integer_records`.
    pub answer_longer_rate: Option<f64>,
    /// Integer records whose answer's cuts line up with every operand's.
    pub aligned: u64,
    /// `aligned / integer_records`.
    pub aligned_rate: Option<f64>,
    /// Aligned records among those with a longer answer.
    pub aligned_when_longer: u64,
    /// `aligned_when_longer / answer_longer`.
    pub aligned_when_longer_rate: Option<f64>,
    /// Alignment among the integer records whose answer is not longer.
    pub aligned_when_not_longer_rate: Option<f64>,
    /// Answers measured.
    pub answers: u64,
    /// Tokens the answers took.
    pub answer_tokens: u64,
    /// `answer_tokens / answers`.
    pub tokens_per_answer: Option<f64>,
    /// Operands measured.
    pub operands: u64,
    /// Tokens the operands took.
    pub operand_tokens: u64,
    /// `operand_tokens / operands`.
    pub tokens_per_operand: Option<f64>,
    /// Digit-group shape of the answer → answers cut that way.
    pub answer_shapes: BTreeMap<String, u64>,
}

/// How one tokenizer and scheme cut both sides of one probe pair (`9.11` vs `9.9`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRow {
    /// The tokenizer's name (see [`TokenizerEntry::name`]).
    pub tokenizer: String,
    /// The scheme's key (see [`SchemeEntry::key`]).
    pub scheme: String,
    /// The smaller number, as written.
    pub left: String,
    /// The larger number, as written.
    pub right: String,
    /// The left number's tokens, as text.
    pub left_cut: Vec<String>,
    /// The right number's tokens, as text.
    pub right_cut: Vec<String>,
    /// Tokens of the left number.
    pub left_tokens: usize,
    /// Tokens of the right number.
    pub right_tokens: usize,
    /// The fractional digits of both sides are cut at the same place values.
    pub fraction_aligned: bool,
}

impl DigitsJson {
    /// The file's content for one run: names in place of the report's indices, scheme
    /// and record kinds by key, ratios computed once here.
    pub fn from_report(r: &DigitsReport) -> DigitsJson {
        let tok = |i: usize| r.tokenizers[i].name.clone();
        let src = |i: usize| r.corpora[i].name.clone();
        DigitsJson {
            seed: r.seed,
            schemes: r
                .schemes
                .iter()
                .map(|s| SchemeEntry {
                    key: s.key().to_string(),
                    label: s.label().to_string(),
                    pattern: s.pattern().map(str::to_string),
                })
                .collect(),
            tokenizers: r
                .tokenizers
                .iter()
                .map(|t| TokenizerEntry::new(t, r))
                .collect(),
            sources: r
                .corpora
                .iter()
                .map(|c| SourceEntry {
                    name: c.name.clone(),
                    path: c.path.clone(),
                    kind: c.kind.name().to_string(),
                    docs: c.docs,
                    bytes: c.bytes,
                    words: c.words,
                    records: c
                        .records
                        .iter()
                        .map(|(k, v)| (k.key().to_string(), *v))
                        .collect(),
                    skipped_annotations: c.skipped,
                })
                .collect(),
            text: r
                .text
                .iter()
                .map(|t| {
                    TextRow::new(
                        src(t.corpus),
                        tok(t.tokenizer),
                        t.scheme.key().to_string(),
                        &t.stats,
                    )
                })
                .collect(),
            arith: r
                .arith
                .iter()
                .map(|a| {
                    ArithRow::new(
                        [
                            src(a.corpus),
                            a.kind.key().to_string(),
                            tok(a.tokenizer),
                            a.scheme.key().to_string(),
                        ],
                        &a.stats,
                    )
                })
                .collect(),
            probe: r
                .probe
                .iter()
                .map(|p| ProbeRow {
                    tokenizer: tok(p.tokenizer),
                    scheme: p.scheme.key().to_string(),
                    left: p.pair.0.clone(),
                    right: p.pair.1.clone(),
                    left_cut: p.cut.left.pieces.clone(),
                    right_cut: p.cut.right.pieces.clone(),
                    left_tokens: p.cut.left.tokens(),
                    right_tokens: p.cut.right.tokens(),
                    fraction_aligned: p.cut.fraction_aligned,
                })
                .collect(),
        }
    }
}

impl TokenizerEntry {
    fn new(t: &TokInfo, r: &DigitsReport) -> TokenizerEntry {
        let c = &t.coverage;
        TokenizerEntry {
            name: t.name.clone(),
            path: t.path.clone(),
            format: t.format.clone(),
            detail: t.detail.clone(),
            vocab_size: t.vocab_size,
            coverage: (0..3).map(|i| CoverageEntry::new(c, i)).collect(),
            expresses: r
                .schemes
                .iter()
                .filter_map(|s| c.expresses(*s).map(|e| (s.key().to_string(), e)))
                .collect(),
            digit_stage: t
                .placements
                .iter()
                .map(|(s, p)| (s.key().to_string(), p.describe().to_string()))
                .collect(),
        }
    }
}

impl CoverageEntry {
    /// Strings of `i + 1` digits.
    fn new(c: &Coverage, i: usize) -> CoverageEntry {
        CoverageEntry {
            digits: i + 1,
            single: c.single[i],
            total: c.total[i],
            by_token_count: c.fallback[i]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            examples: c.examples[i].clone(),
        }
    }
}

impl TextRow {
    fn new(source: String, tokenizer: String, scheme: String, s: &TextStats) -> TextRow {
        TextRow {
            source,
            tokenizer,
            scheme,
            docs: s.docs,
            bytes: s.bytes,
            words: s.words,
            tokens: s.tokens,
            numbers: s.numbers,
            number_tokens: s.number_tokens,
            digits: s.digits,
            tokens_per_number: finite(s.tokens_per_number()),
            digits_per_token: finite(s.digits_per_token()),
            bytes_per_token: finite(s.bytes_per_token()),
            tokens_per_word: finite(s.tokens_per_word()),
            tokens_per_doc: finite(s.tokens_per_doc()),
            groups: s.groups,
            split_groups: s.split_groups,
            split_group_rate: finite(s.split_group_rate()),
            shapes: s.shapes.clone(),
        }
    }
}

impl ArithRow {
    /// `names`: source, record kind, tokenizer, scheme.
    fn new(names: [String; 4], s: &ArithStats) -> ArithRow {
        let [source, records_kind, tokenizer, scheme] = names;
        ArithRow {
            source,
            records_kind,
            tokenizer,
            scheme,
            records: s.records,
            integer_records: s.integer_records,
            answer_longer: s.answer_longer,
            answer_longer_rate: finite(s.answer_longer_rate()),
            aligned: s.aligned,
            aligned_rate: finite(s.aligned_rate()),
            aligned_when_longer: s.aligned_when_longer,
            aligned_when_longer_rate: finite(s.aligned_when_longer_rate()),
            aligned_when_not_longer_rate: finite(s.aligned_when_not_longer_rate()),
            answers: s.answers,
            answer_tokens: s.answer_tokens,
            tokens_per_answer: finite(s.tokens_per_answer()),
            operands: s.operands,
            operand_tokens: s.operand_tokens,
            tokens_per_operand: finite(s.tokens_per_operand()),
            answer_shapes: s.answer_shapes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_ratios_are_null_and_read_back() {
        let row = TextRow::new("s".into(), "t".into(), "1".into(), &TextStats::default());
        assert_eq!(row.tokens_per_number, None);
        let v = serde_json::to_value(&row).unwrap();
        assert!(v["tokens_per_number"].is_null());
        let back: TextRow = serde_json::from_value(v).unwrap();
        assert_eq!(back, row);
    }
}

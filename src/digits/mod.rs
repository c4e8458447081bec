//! Digit pre-tokenization schemes (docs/digits.md): the same vocabulary under its own digit
//! handling, 1-digit, 3-digit left-to-right and 3-digit right-to-left, compared on text,
//! arithmetic data and a parallel corpus.
//!
//! - [`scheme`]: the schemes and the digit stage put in front of a tokenizer's pipeline;
//! - [`numbers`]: digit runs, numbers, and how an encoding cut them;
//! - [`metrics`]: what is counted (text, arithmetic alignment, coverage, decimal probe);
//! - [`data`]: readers for text files, GPT-3 arithmetic / GSM8K JSON lines, PUD;
//! - [`synth`]: seeded numbers for a run without data files;
//! - [`run`]: measuring every corpus with every tokenizer and scheme;
//! - [`json`]: the one schema of `digits --json`, written by the command, read by the report.

pub mod data;
pub mod json;
pub mod metrics;
pub mod numbers;
pub mod run;
pub mod scheme;
pub mod synth;

pub use data::{read_arith, read_pud, read_text_corpus, Corpus, CorpusKind, RecordKind};
pub use json::DigitsJson;
pub use run::{analyze, DigitsReport, NamedVocab};
pub use scheme::{apply, Placement, Scheme, Schemed};

//! The inputs: text files, arithmetic data sets (GPT-3 arithmetic and GSM8K JSON lines)
//! and the parallel PUD corpus, each read into a [`Corpus`] of documents, plus the
//! arithmetic records that point at numbers inside those documents.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::numbers::{numbers, Number};
use crate::util::text::read_text;

/// Where a corpus came from and how its documents were cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorpusKind {
    /// A text file, one document per line (newline included).
    Text,
    /// An arithmetic data set; documents are the records' texts.
    Arith(ArithFormat),
    /// One language of a parallel corpus; one document per sentence (no newline).
    Pud {
        /// The language code, the file's stem (`en` for `en.txt`).
        lang: String,
    },
    /// Numbers made up in the run (seeded).
    Generated,
}

impl CorpusKind {
    /// The name the JSON and CSV outputs use, stable across versions.
    pub fn name(&self) -> &'static str {
        match self {
            CorpusKind::Text => "text",
            CorpusKind::Arith(_) => "arith",
            CorpusKind::Pud { .. } => "pud",
            CorpusKind::Generated => "generated",
        }
    }
}

/// Arithmetic file formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithFormat {
    /// openai/gpt-3 `data/*.jsonl`: `{"context": "\n\nQ: What is 98 plus 45?\n\nA:",
    /// "completion": " 143"}`.
    Gpt3,
    /// openai/grade-school-math: `{"question": …, "answer": "…<<a*b=c>>…\n#### N"}`.
    Gsm8k,
    /// Additions generated in the run.
    Generated,
}

impl ArithFormat {
    /// The name tables show, stable across versions.
    pub fn name(self) -> &'static str {
        match self {
            ArithFormat::Gpt3 => "gpt3",
            ArithFormat::Gsm8k => "gsm8k",
            ArithFormat::Generated => "generated",
        }
    }
}

/// Which kind of arithmetic record: a record's operands and answer are numbers in the
/// corpus's documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKind {
    /// GPT-3 arithmetic: the numbers of the question, the completion.
    Problem,
    /// GSM8K: the numbers of the question, the final `#### N`.
    Final,
    /// GSM8K calculator annotation `<<a*b=c>>`: the numbers left of `=`, the result.
    Calc,
}

impl RecordKind {
    /// The key the JSON and CSV outputs use, stable across versions.
    pub fn key(self) -> &'static str {
        match self {
            RecordKind::Problem => "problem",
            RecordKind::Final => "final",
            RecordKind::Calc => "calc",
        }
    }
    /// What is compared with what, for a reader of the tables.
    pub fn describe(self) -> &'static str {
        match self {
            RecordKind::Problem => "question operands → answer",
            RecordKind::Final => "question numbers → #### answer",
            RecordKind::Calc => "<<a op b=c>> annotations",
        }
    }
}

/// A number inside a corpus: document index and index into that document's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumRef {
    /// Index into [`Corpus::docs`].
    pub doc: usize,
    /// Index into that document's [`Corpus::numbers`].
    pub idx: usize,
}

/// One arithmetic record: references to its numbers rather than copies, so their cuts
/// come from encoding the whole document as a model sees it.
#[derive(Debug, Clone)]
pub struct ArithRecord {
    /// Where the operands and answer were found.
    pub kind: RecordKind,
    /// The numbers the answer is computed from, in the order written.
    pub operands: Vec<NumRef>,
    /// The result.
    pub answer: NumRef,
}

/// Documents to encode, and the arithmetic records found in them.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Short name for tables (the file name, or the language code).
    pub name: String,
    /// The file read, `None` for generated numbers.
    pub path: Option<PathBuf>,
    /// How the documents were cut from the file.
    pub kind: CorpusKind,
    /// The texts encoded, each on its own (a record's numbers are cut in context).
    pub docs: Vec<String>,
    /// Numbers of each document that records point at (empty for plain text).
    pub numbers: Vec<Vec<Number>>,
    /// Arithmetic records found in the documents (empty for plain text and PUD).
    pub records: Vec<ArithRecord>,
    /// GSM8K calculator annotations that could not be read as `numbers = number`.
    pub skipped: usize,
}

impl Corpus {
    /// Bytes of all documents, the denominator of bytes per token.
    pub fn bytes(&self) -> usize {
        self.docs.iter().map(|d| d.len()).sum()
    }
    /// Whitespace-separated words of all documents, the denominator of tokens per word.
    pub fn words(&self) -> usize {
        self.docs.iter().map(|d| d.split_whitespace().count()).sum()
    }
    /// The document a reference points into and the number there.
    pub fn number(&self, r: NumRef) -> (&str, &Number) {
        (&self.docs[r.doc], &self.numbers[r.doc][r.idx])
    }
    /// The record kinds present, in order.
    pub fn record_kinds(&self) -> Vec<RecordKind> {
        let mut k: Vec<RecordKind> = self.records.iter().map(|r| r.kind).collect();
        k.sort();
        k.dedup();
        k
    }

    fn new(name: String, path: Option<PathBuf>, kind: CorpusKind) -> Corpus {
        Corpus {
            name,
            path,
            kind,
            docs: Vec::new(),
            numbers: Vec::new(),
            records: Vec::new(),
            skipped: 0,
        }
    }

    /// Add a document; returns its index.
    fn push_doc(&mut self, text: String, with_numbers: bool) -> usize {
        self.numbers.push(if with_numbers {
            numbers(&text)
        } else {
            Vec::new()
        });
        self.docs.push(text);
        self.docs.len() - 1
    }

    /// References to the numbers of `doc` that lie inside `range`.
    fn refs_in(&self, doc: usize, range: std::ops::Range<usize>) -> Vec<NumRef> {
        self.numbers[doc]
            .iter()
            .enumerate()
            .filter(|(_, n)| n.span.start >= range.start && n.span.end <= range.end)
            .map(|(idx, _)| NumRef { doc, idx })
            .collect()
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Read a UTF-8 file that must not be empty.
fn read_nonempty(path: &Path) -> Result<String> {
    let text = read_text(path)?;
    if text.trim().is_empty() {
        bail!("{}: empty file (nothing to measure)", path.display());
    }
    Ok(text)
}

/// A text file: one document per line, newline kept.
pub fn read_text_corpus(path: &Path) -> Result<Corpus> {
    let text = read_nonempty(path)?;
    let mut c = Corpus::new(file_name(path), Some(path.to_path_buf()), CorpusKind::Text);
    for line in text.split_inclusive('\n') {
        c.push_doc(line.to_string(), false);
    }
    Ok(c)
}

const FORMAT_HELP: &str = "expected JSON lines with \"context\" and \"completion\" (GPT-3 \
     arithmetic) or \"question\" and \"answer\" ending in \"#### N\" (GSM8K)";

fn detect(obj: &Value) -> Option<ArithFormat> {
    let has = |k: &str| obj.get(k).is_some_and(|v| v.is_string());
    if has("context") && has("completion") {
        Some(ArithFormat::Gpt3)
    } else if has("question") && has("answer") {
        Some(ArithFormat::Gsm8k)
    } else {
        None
    }
}

/// An arithmetic data set, its format detected from the first record.
pub fn read_arith(path: &Path) -> Result<Corpus> {
    let text = read_nonempty(path)?;
    let mut format: Option<ArithFormat> = None;
    let mut c = Corpus::new(
        file_name(path),
        Some(path.to_path_buf()),
        CorpusKind::Text, // set below
    );
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let where_ = || format!("{}:{lineno}", path.display());
        let obj: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) if format.is_none() => bail!(
                "{}: unknown arithmetic format: not JSON ({e}); {FORMAT_HELP}",
                where_()
            ),
            Err(e) => bail!("{}: invalid JSON: {e}", where_()),
        };
        let this = detect(&obj);
        let f = match (format, this) {
            (None, None) => {
                let keys: Vec<String> = obj
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default();
                bail!(
                    "{}: unknown arithmetic format (keys: {}); {FORMAT_HELP}",
                    where_(),
                    if keys.is_empty() {
                        "none".to_string()
                    } else {
                        keys.join(", ")
                    }
                )
            }
            (None, Some(f)) => {
                format = Some(f);
                f
            }
            (Some(f), Some(g)) if f == g => f,
            (Some(f), _) => bail!(
                "{}: record is not in the {} format of the lines before it",
                where_(),
                f.name()
            ),
        };
        let s = |k: &str| obj[k].as_str().unwrap_or_default().to_string();
        match f {
            ArithFormat::Gpt3 => {
                gpt3_record(&mut c, s("context"), s("completion")).with_context(where_)?
            }
            ArithFormat::Gsm8k => {
                gsm8k_record(&mut c, s("question"), s("answer")).with_context(where_)?
            }
            ArithFormat::Generated => unreachable!("never detected from a file"),
        }
    }
    let Some(f) = format else {
        bail!("{}: empty file (no records)", path.display());
    };
    c.kind = CorpusKind::Arith(f);
    Ok(c)
}

/// One GPT-3 arithmetic record: the document is context + completion.
fn gpt3_record(c: &mut Corpus, context: String, completion: String) -> Result<()> {
    let split = context.len();
    let doc = c.push_doc(context + &completion, true);
    let operands = c.refs_in(doc, 0..split);
    let answers = c.refs_in(doc, split..c.docs[doc].len());
    let [answer] = answers[..] else {
        bail!(
            "the completion {:?} holds {} numbers, expected one",
            &c.docs[doc][split..],
            answers.len()
        );
    };
    if operands.is_empty() {
        bail!("the context holds no number");
    }
    c.records.push(ArithRecord {
        kind: RecordKind::Problem,
        operands,
        answer,
    });
    Ok(())
}

/// One GSM8K record: question and answer are two documents. Records: the final answer
/// against the question's numbers, and each `<<expr=result>>` annotation.
fn gsm8k_record(c: &mut Corpus, question: String, answer: String) -> Result<()> {
    let q = c.push_doc(question, true);
    let Some(hash) = answer.rfind("####") else {
        bail!("the answer has no \"#### N\" line");
    };
    let a = c.push_doc(answer, true);
    let text_len = c.docs[a].len();
    let finals = c.refs_in(a, hash..text_len);
    let [final_answer] = finals[..] else {
        bail!(
            "the \"####\" line holds {} numbers, expected one",
            finals.len()
        );
    };
    c.records.push(ArithRecord {
        kind: RecordKind::Final,
        operands: c.refs_in(q, 0..c.docs[q].len()),
        answer: final_answer,
    });
    let text = c.docs[a].clone();
    let mut from = 0;
    while let Some(open) = text[from..].find("<<").map(|i| from + i) {
        let Some(close) = text[open..].find(">>").map(|i| open + i) else {
            break;
        };
        from = close + 2;
        let inner = open + 2..close;
        let Some(eq) = text[inner.clone()].rfind('=').map(|i| inner.start + i) else {
            c.skipped += 1;
            continue;
        };
        let ops = c.refs_in(a, inner.start..eq);
        let res = c.refs_in(a, eq + 1..inner.end);
        match (&ops[..], &res[..]) {
            ([_, ..], [r]) => c.records.push(ArithRecord {
                kind: RecordKind::Calc,
                operands: ops.clone(),
                answer: *r,
            }),
            _ => c.skipped += 1,
        }
    }
    Ok(())
}

/// Language files of a parallel corpus directory: `xx.txt` (2–3 lowercase letters),
/// English first, then by name. One sentence per non-empty line.
pub fn read_pud(dir: &Path) -> Result<Vec<Corpus>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
    let mut langs: Vec<(String, PathBuf)> = Vec::new();
    for e in entries {
        let p = e.with_context(|| format!("{}", dir.display()))?.path();
        let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let is_lang = (2..=3).contains(&stem.len()) && stem.chars().all(|c| c.is_ascii_lowercase());
        if is_lang && p.extension().is_some_and(|x| x == "txt") && p.is_file() {
            langs.push((stem.to_string(), p));
        }
    }
    if langs.is_empty() {
        bail!(
            "{}: no language files (xx.txt, one sentence per line) in this directory",
            dir.display()
        );
    }
    langs.sort_by(|a, b| (a.0 != "en", &a.0).cmp(&(b.0 != "en", &b.0)));
    let mut out = Vec::new();
    for (lang, path) in langs {
        let text = read_nonempty(&path)?;
        let mut c = Corpus::new(lang.clone(), Some(path.clone()), CorpusKind::Pud { lang });
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            c.push_doc(line.to_string(), false);
        }
        out.push(c);
    }
    Ok(out)
}

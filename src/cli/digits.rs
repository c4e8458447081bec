//! `tokenaudit digits`: compare digit pre-tokenization schemes on one or more tokenizers.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use tokenaudit::digits::{self, synth, Corpus, NamedVocab, Scheme};
use tokenaudit::output;
use tokenaudit::vocab::{self, LoadOptions, Vocab};

#[derive(Debug, Args)]
pub struct DigitsArgs {
    /// Tokenizer file or model directory; several (repeat the flag or list them after
    /// it) for a side-by-side comparison. Default: the demo tokenizer in data/demo/.
    #[arg(long, short = 't', value_name = "PATH", num_args = 1..)]
    pub tokenizer: Vec<PathBuf>,
    /// tiktoken family for every tiktoken file given (guessed from its size otherwise).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// UTF-8 text files to measure, one document per line.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub text: Vec<PathBuf>,
    /// Arithmetic data sets (GPT-3 arithmetic or GSM8K JSON lines).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub arith: Vec<PathBuf>,
    /// A parallel corpus directory (xx.txt per language, one sentence per line, as
    /// ../shared/data/corpus/pud): fertility per language.
    #[arg(long, value_name = "DIR")]
    pub pud: Option<PathBuf>,
    /// Also measure the generated numbers when files are given (they are used by
    /// default when no --text, --arith or --pud is given).
    #[arg(long)]
    pub generated: bool,
    /// Seed of the generated numbers.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Schemes to compare, comma-separated: own, 1, l2r, r2l.
    #[arg(long, value_delimiter = ',', default_value = "own,1,l2r,r2l")]
    pub schemes: Vec<Scheme>,
    /// Write every metric as one CSV row (section, source, kind, tokenizer, scheme,
    /// metric, key, value).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print exactly one JSON object with every metric instead of the tables.
    #[arg(long)]
    pub json: bool,
}

/// A short column name for a tokenizer: its directory's name, or the file's stem.
fn short_name(path: &Path) -> String {
    let generic = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("tokenizer.") || n.ends_with(".json"));
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    if path.is_dir() || (generic && parent.is_none()) {
        return path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
    }
    match parent {
        Some(p) if !p.is_empty() && p != "." => p,
        _ => path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string()),
    }
}

/// Names made unique by a numeric suffix.
fn unique_names(paths: &[PathBuf]) -> Vec<String> {
    let mut seen: HashSet<String> = HashSet::new();
    paths
        .iter()
        .map(|p| {
            let base = short_name(p);
            let mut name = base.clone();
            let mut k = 2;
            while !seen.insert(name.clone()) {
                name = format!("{base}#{k}");
                k += 1;
            }
            name
        })
        .collect()
}

pub fn run(a: DigitsArgs) -> Result<()> {
    let mut schemes: Vec<Scheme> = Vec::new();
    for s in &a.schemes {
        if !schemes.contains(s) {
            schemes.push(*s);
        }
    }
    if schemes.is_empty() {
        anyhow::bail!("--schemes: give at least one of own, 1, l2r, r2l");
    }
    let to_err = super::check_outputs([a.csv.as_deref()])?;
    // Read every input first: a bad file fails the run before any tokenizer is loaded.
    let mut corpora: Vec<Corpus> = Vec::new();
    for p in &a.text {
        corpora.push(digits::read_text_corpus(p)?);
    }
    for p in &a.arith {
        corpora.push(digits::read_arith(p)?);
    }
    if let Some(dir) = &a.pud {
        corpora.extend(digits::read_pud(dir)?);
    }
    let use_generated = a.generated || corpora.is_empty();
    if use_generated {
        corpora.insert(0, synth::numbers_corpus(a.seed));
        corpora.insert(1, synth::additions_corpus(a.seed));
    }

    let paths: Vec<PathBuf> = a.tokenizer.clone();
    let opts = LoadOptions {
        format: None,
        preset: a.preset.clone(),
    };
    let vocabs: Vec<Vocab> = if paths.is_empty() {
        vec![tokenaudit::demo::tokenizer()?]
    } else {
        paths
            .iter()
            .map(|p| vocab::load(p, &opts))
            .collect::<Result<_, _>>()?
    };
    let names = if a.tokenizer.is_empty() {
        vec!["demo".to_string()]
    } else {
        unique_names(&paths)
    };
    let named: Vec<NamedVocab> = names
        .into_iter()
        .zip(&vocabs)
        .map(|(name, vocab)| NamedVocab { name, vocab })
        .collect();

    let report = digits::analyze(&named, &corpora, &schemes, use_generated.then_some(a.seed))?;
    if let Some(path) = &a.csv {
        output::digits::write_csv(&report, path)?;
    }
    let mut out = super::summary_out(to_err);
    if a.json {
        serde_json::to_writer(&mut out, &output::digits::to_json(&report))?;
        writeln!(out)?;
    } else {
        output::digits::write_summary(&report, &mut out)?;
        if let Some(path) = &a.csv {
            writeln!(out, "\nCSV of every metric written to {}", path.display())?;
        }
    }
    Ok(())
}

//! Command-line flags, each with its help beside it, resolved once into plain settings
//! that the library functions take (the ripgrep way). `main.rs` only calls [`run`].

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::indicators::Indicator;
use crate::scan::{self, ScanSettings};
use crate::vocab::{self, Format, LoadOptions, Vocab};
use crate::{audit, output};

/// The tokenizer `audit` and `encode` use when none is given: a small byte-level BPE the
/// project trains itself (see examples/make_demo_tokenizer.rs), showing every category.
pub const DEMO_TOKENIZER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo/tokenizer.json");

#[derive(Debug, Parser)]
#[command(
    name = "tokenaudit",
    version,
    about = "Audit tokenizers and find the tokens a language model never learned",
    long_about = "Audit tokenizers of any format (tokenizer.json, SentencePiece, tiktoken, GGUF) \
                  and find under-trained tokens in model checkpoints."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Categorize every token id: which can never be produced from text, which decode to
    /// broken UTF-8, which are bytes or specials.
    Audit(AuditArgs),
    /// Encode text and print the ids (and pieces), like a tokenizer playground.
    Encode(EncodeArgs),
    /// Flag under-trained tokens of a model from its embedding matrices alone
    /// (memory-mapped; only the embedding tensors are read).
    Scan(ScanArgs),
}

/// Which tokenizer to load and how.
#[derive(Debug, Args)]
pub struct TokenizerArgs {
    /// Tokenizer file or model directory (tokenizer.json, encoder.json + vocab.bpe,
    /// SentencePiece .model, tiktoken ranks, GGUF). Default: the demo tokenizer shipped in
    /// data/demo/.
    #[arg(long, short = 't', value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    /// Force the file format instead of detecting it from the content.
    #[arg(long, value_name = "hf|gpt-bpe|sentencepiece|tiktoken|gguf")]
    pub format: Option<Format>,
    /// tiktoken family (split regex + special tokens): llama3, llama4, cl100k, qwen, gpt2,
    /// plain. Guessed from the vocabulary size when not given.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
}

impl TokenizerArgs {
    fn path(&self) -> PathBuf {
        self.tokenizer
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEMO_TOKENIZER))
    }
    pub fn load(&self) -> Result<Vocab> {
        let opts = LoadOptions {
            format: self.format,
            preset: self.preset.clone(),
        };
        Ok(vocab::load(&self.path(), &opts)?)
    }
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub tok: TokenizerArgs,
    /// Print exactly one JSON object (sizes, summary counts, category counts) instead of
    /// the readable summary.
    #[arg(long)]
    pub json: bool,
    /// Write one CSV row per token (id, raw, decoded, category, byte info, re-encoding).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub tok: TokenizerArgs,
    /// Text to encode (or use --file).
    #[arg(value_name = "TEXT", conflicts_with = "file")]
    pub text: Option<String>,
    /// Encode the contents of this UTF-8 file.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Show each piece beside its id.
    #[arg(long)]
    pub tokens: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Model directory (config.json + *.safetensors or a sharded index), a .safetensors
    /// file, or a .gguf file. Pickle checkpoints (.bin/.pt) are refused.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Tokenizer file or directory; default: the model directory (or the GGUF itself).
    #[arg(long, short = 't', value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    /// Force the tokenizer format instead of detecting it.
    #[arg(long, value_name = "hf|gpt-bpe|sentencepiece|tiktoken|gguf")]
    pub format: Option<Format>,
    /// tiktoken family preset (see `audit --help`).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Candidates: OK tokens at or below this percentile of the main indicator among OK
    /// tokens.
    #[arg(long, default_value_t = 2.0, value_name = "P")]
    pub percentile: f64,
    /// Main indicator: in_norm (default for untied models), out_cos, out_cos_pc (default
    /// for tied models), out_cos_centered, out_l2.
    #[arg(long, value_name = "NAME", value_parser = parse_indicator)]
    pub indicator: Option<Indicator>,
    /// Name of the input-embedding tensor, when it is not found by the usual names.
    #[arg(long, value_name = "TENSOR")]
    pub embedding: Option<String>,
    /// Name of the unembedding (lm_head) tensor, when it is not found by the usual names.
    #[arg(long, value_name = "TENSOR")]
    pub unembedding: Option<String>,
    /// Comma-separated ids known to be unused, for the unembedding indicators
    /// (default: derived from the audit: unreachable, invalid-UTF-8 bytes, reserved
    /// specials, padding rows).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub reference_ids: Option<Vec<u32>>,
    /// token_id,count CSV of the training data: adds a count column and scores each
    /// indicator against "never seen" (ROC AUC, precision and recall of the candidates).
    #[arg(long, value_name = "FILE")]
    pub counts: Option<PathBuf>,
    /// Write the glitch-token CSV: one row per embedding row with every indicator.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print one JSON object (threshold, candidates, AUCs) instead of the readable summary.
    #[arg(long)]
    pub json: bool,
}

fn parse_indicator(s: &str) -> std::result::Result<Indicator, String> {
    Indicator::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Indicator::ALL.iter().map(|i| i.name()).collect();
        format!(
            "unknown indicator '{s}' (expected one of {})",
            names.join(", ")
        )
    })
}

impl ScanArgs {
    fn settings(&self) -> Result<ScanSettings> {
        if !(0.0..=100.0).contains(&self.percentile) {
            bail!(
                "--percentile must be between 0 and 100, got {}",
                self.percentile
            );
        }
        let mut s = ScanSettings::new(self.model.clone());
        s.tokenizer = self.tokenizer.clone();
        s.load = LoadOptions {
            format: self.format,
            preset: self.preset.clone(),
        };
        s.percentile = self.percentile;
        s.indicator = self.indicator;
        s.embedding = self.embedding.clone();
        s.unembedding = self.unembedding.clone();
        s.reference_ids = self.reference_ids.clone();
        s.counts = self.counts.clone();
        Ok(s)
    }
}

fn run_scan(a: ScanArgs) -> Result<()> {
    let report = scan::run(&a.settings()?)?;
    if let Some(path) = &a.csv {
        output::scan::write_csv(&report, path)?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.json {
        serde_json::to_writer(&mut out, &output::scan::to_json(&report))?;
        writeln!(out)?;
    } else {
        output::scan::write_summary(&report, &mut out)?;
        if let Some(path) = &a.csv {
            writeln!(out, "\nglitch-token CSV written to {}", path.display())?;
        }
    }
    std::mem::forget(report);
    Ok(())
}

/// One line for an error and its causes. Our error types already put their cause in
/// their own message, so a cause whose text is already shown is not repeated.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

/// Run a parsed command line; errors come back to `main`, which prints them on one line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Audit(a) => run_audit(a),
        Command::Encode(e) => run_encode(e),
        Command::Scan(s) => run_scan(s),
    }
}

fn run_audit(a: AuditArgs) -> Result<()> {
    let vocab = a.tok.load()?;
    let report = audit::audit(&vocab);
    if let Some(path) = &a.csv {
        output::audit::write_csv(&report, path)?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.json {
        serde_json::to_writer(&mut out, &output::audit::to_json(&vocab, &report))?;
        writeln!(out)?;
    } else {
        output::audit::write_summary(&vocab, &report, &mut out)?;
        if let Some(path) = &a.csv {
            writeln!(out, "\nper-token CSV written to {}", path.display())?;
        }
    }
    // The process exits next: freeing a large vocabulary's many small allocations would
    // only add tens of milliseconds to every run.
    std::mem::forget(report);
    std::mem::forget(vocab);
    Ok(())
}

/// Read a text file as UTF-8, naming the file and the byte offset when it is not.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => bail!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ),
    }
}

fn run_encode(e: EncodeArgs) -> Result<()> {
    let text = match (&e.text, &e.file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => read_text(f)?,
        (None, None) => bail!("give TEXT to encode or --file FILE"),
    };
    let vocab = e.tok.load()?;
    let pieces = vocab
        .encode_pieces(&text)
        .map_err(|err| anyhow::anyhow!("{}: cannot encode: {err}", vocab.source.display()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if e.tokens {
        for (id, piece) in &pieces {
            let decoded = vocab.decode(&[*id]).unwrap_or_default();
            writeln!(
                out,
                "{id:>8}  {:<24} {:?}",
                output::escape::visible(piece),
                output::escape::visible(&decoded)
            )?;
        }
        writeln!(out, "{} tokens", pieces.len())?;
    } else {
        let ids: Vec<String> = pieces.iter().map(|(i, _)| i.to_string()).collect();
        writeln!(out, "{}", ids.join(" "))?;
    }
    Ok(())
}

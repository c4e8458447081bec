//! Command-line flags, each with its help beside it, resolved once into plain settings
//! that the library functions take (the ripgrep way). `main.rs` only calls [`run`].

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

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

/// Run a parsed command line; errors come back to `main`, which prints them on one line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Audit(a) => run_audit(a),
        Command::Encode(e) => run_encode(e),
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

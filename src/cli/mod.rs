//! Command-line flags, each with its help beside it, resolved once into plain settings
//! that the library functions take (the ripgrep way). `main.rs` only calls [`run`]. Each
//! command's flags and its small driver live in their own file beside this one.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use tokenaudit::vocab::{self, Format, LoadOptions, Vocab};

pub mod audit;
pub mod backend;
pub mod digits;
pub mod encode;
pub mod export;
pub mod generate;
pub mod pause;
pub mod report;
pub mod scan;
pub mod verify;

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
    Audit(audit::AuditArgs),
    /// Encode text and print the ids (and pieces), like a tokenizer playground.
    Encode(encode::EncodeArgs),
    /// Flag under-trained tokens of a model from its embedding matrices alone
    /// (memory-mapped; only the embedding tensors are read).
    Scan(scan::ScanArgs),
    /// Compare digit pre-tokenization schemes (own, 1-digit, 3-digit left-to-right,
    /// 3-digit right-to-left) on one or more tokenizers, on text and arithmetic.
    Digits(digits::DigitsArgs),
    /// Confirm candidate under-trained tokens with real forward passes (CPU or CUDA).
    Verify(verify::VerifyArgs),
    /// Scan and verify in one go, and write the final glitch-token CSV.
    Glitch(verify::GlitchArgs),
    /// Rank tokens that can be repurposed as pause tokens, by measured disturbance (KL).
    Pause(pause::PauseArgs),
    /// Generate text with the entropy-aware sampler (and pause-token insertion).
    Generate(generate::GenerateArgs),
    /// Compare samplers on GSM8K or GPT-3 arithmetic problems.
    Eval(generate::EvalArgs),
    /// Write one self-contained HTML report (tables and plots) of the audit, scan,
    /// verification, pause ranking and digit schemes.
    Report(report::ReportArgs),
    /// Write a Hugging Face Llama checkpoint directory as one GGUF file that llama.cpp
    /// loads (weights, hyper-parameters and tokenizer).
    ExportGguf(export::ExportGgufArgs),
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

/// The tokenizer of a model command (`scan`, `verify`, …): the model directory's own
/// unless `--tokenizer` says otherwise.
#[derive(Debug, Args)]
pub struct ModelTokenizerArgs {
    /// Tokenizer file or directory; default: the model directory (or the GGUF itself).
    #[arg(long, short = 't', value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    /// Force the tokenizer format instead of detecting it.
    #[arg(long, value_name = "hf|gpt-bpe|sentencepiece|tiktoken|gguf")]
    pub format: Option<Format>,
    /// tiktoken family preset (see `audit --help`).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
}

impl ModelTokenizerArgs {
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            format: self.format,
            preset: self.preset.clone(),
        }
    }
}

impl TokenizerArgs {
    /// The tokenizer named, or the demo tokenizer compiled into the binary.
    pub fn load(&self) -> Result<Vocab> {
        let opts = LoadOptions {
            format: self.format,
            preset: self.preset.clone(),
        };
        match &self.tokenizer {
            Some(p) => Ok(vocab::load(p, &opts)?),
            None => Ok(tokenaudit::demo::tokenizer()?),
        }
    }
}

/// Show the library's warnings, one line each, on stderr.
pub fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("tokenaudit: warning: {w}");
    }
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
        Command::Audit(a) => audit::run(a),
        Command::Encode(e) => encode::run(e),
        Command::Scan(s) => scan::run(s),
        Command::Digits(d) => digits::run(d),
        Command::Verify(v) => verify::run(v),
        Command::Glitch(g) => verify::run_glitch(g),
        Command::Pause(p) => pause::run(p),
        Command::Generate(g) => generate::run_generate(g),
        Command::Eval(e) => generate::run_eval(e),
        Command::Report(r) => report::run(r),
        Command::ExportGguf(x) => export::run(x),
    }
}

pub use tokenaudit::util::text::read_text;

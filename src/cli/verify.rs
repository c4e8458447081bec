//! `tokenaudit verify` and `tokenaudit glitch` (scan + verify in one go).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use tokenaudit::model;
use tokenaudit::output;
use tokenaudit::verify::local::ScoreOptions;
use tokenaudit::verify::{self, prompts, IdSource, Thresholds, VerifySettings};

/// Flags shared by `verify` and `glitch`: the model, the device and the engine.
#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(flatten)]
    pub tok: super::ModelTokenizerArgs,
    /// Where to run the forward passes: cpu, cuda or cuda:N (needs a `--features cuda`
    /// build).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: String,
    /// Compute dtype: f32, f16 or bf16. Default: f32 on CPU, the checkpoint's on CUDA.
    #[arg(long, value_name = "DTYPE")]
    pub dtype: Option<String>,
    /// Candidates per forward pass. 1 runs the published way: one prompt per pass, three
    /// full passes per prompt, no KV cache, no early stop (for comparison).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub batch_size: usize,
    /// Prompts to run, comma-separated (input_output, assistant_explain, repeats).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub prompts: Option<Vec<String>>,
    /// Verdict thresholds on the score: strongly under-trained below --strong, under-trained
    /// below --under, trained above --trained, otherwise unclear.
    #[arg(long, default_value_t = 0.001)]
    pub strong: f32,
    #[arg(long, default_value_t = 0.01)]
    pub under: f32,
    #[arg(long, default_value_t = 0.1)]
    pub trained: f32,
    /// Keep running a token's remaining prompts after its verdict is settled (trained).
    #[arg(long)]
    pub no_early_stop: bool,
    /// Ablations for benchmarks: no KV cache across the greedy steps / no shared prefix.
    #[arg(long, hide = true)]
    pub no_kv_cache: bool,
    #[arg(long, hide = true)]
    pub no_prefix_cache: bool,
    #[command(flatten)]
    pub backend: super::backend::BackendArgs,
}

impl ModelArgs {
    pub fn settings(&self, model: PathBuf, ids: IdSource) -> Result<VerifySettings> {
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        if !(self.strong <= self.under && self.under <= self.trained) {
            bail!("thresholds must satisfy --strong <= --under <= --trained");
        }
        let mut s = VerifySettings::new(model, ids);
        s.tokenizer = self.tok.tokenizer.clone();
        s.load = self.tok.load_options();
        s.device = model::parse_device(&self.device)?;
        s.backend = self.backend.resolve()?;
        s.dtype = self.dtype.as_deref().map(model::parse_dtype).transpose()?;
        let published = self.batch_size == 1;
        s.scoring = if published {
            ScoreOptions::published()
        } else {
            ScoreOptions {
                batch_size: self.batch_size,
                kv_cache: !self.no_kv_cache,
                prefix_cache: !self.no_prefix_cache && !self.no_kv_cache,
                steps: 3,
            }
        };
        s.early_stop = !published && !self.no_early_stop;
        s.thresholds = Thresholds {
            strong: self.strong,
            under: self.under,
            trained: self.trained,
        };
        if let Some(names) = &self.prompts {
            s.templates = names
                .iter()
                .map(|n| {
                    prompts::TEMPLATES
                        .iter()
                        .find(|t| t.name == n)
                        .copied()
                        .ok_or_else(|| anyhow::anyhow!("unknown prompt '{n}'"))
                })
                .collect::<Result<_>>()?;
        }
        Ok(s)
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Model directory (config.json + safetensors).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Verify the candidate rows of a `scan --csv` file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ids", "all"])]
    pub candidates: Option<PathBuf>,
    /// Verify these ids (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "IDS",
        conflicts_with = "all"
    )]
    pub ids: Option<Vec<u32>>,
    /// Verify every token of the tokenizer.
    #[arg(long)]
    pub all: bool,
    /// Append one row per token here as it is verified; rerunning with the same file
    /// skips the tokens already in it.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print one JSON summary object instead of the readable summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model_args: ModelArgs,
}

pub fn run(a: VerifyArgs) -> Result<()> {
    let ids = match (&a.candidates, &a.ids, a.all) {
        (Some(p), _, _) => IdSource::CandidatesCsv(p.clone()),
        (None, Some(ids), _) => IdSource::Ids(ids.clone()),
        (None, None, true) => IdSource::All,
        (None, None, false) => {
            bail!("say which tokens to verify: --candidates FILE, --ids or --all")
        }
    };
    let mut s = a.model_args.settings(a.model.clone(), ids)?;
    s.csv = a.csv.clone();
    let report = verify::run(&s)?;
    super::warn(&report.warnings);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.json {
        serde_json::to_writer(&mut out, &output::verify::to_json(&report, &s))?;
        writeln!(out)?;
    } else {
        output::verify::write_summary(&report, &s, &mut out)?;
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct GlitchArgs {
    /// Model directory (config.json + safetensors).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The final glitch-token CSV: every embedding row with its indicators, and the
    /// verification of the candidates. Progress is kept in FILE.partial.csv, so an
    /// interrupted run continues where it stopped.
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// Print one JSON summary object instead of the readable summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub scan: super::scan::ScanOptions,
    #[command(flatten)]
    pub model_args: ModelArgs,
}

/// Scan, verify the candidates, and write the one CSV a user exporting glitch tokens wants.
pub fn run_glitch(a: GlitchArgs) -> Result<()> {
    let scan_s = a.scan.settings(
        a.model.clone(),
        a.model_args.tok.tokenizer.clone(),
        a.model_args.tok.load_options(),
    )?;
    let scan = tokenaudit::scan::run(&scan_s)?;
    let mut s = a
        .model_args
        .settings(a.model.clone(), IdSource::Ids(scan.candidates.clone()))?;
    let partial = partial_path(&a.csv);
    s.csv = Some(partial.clone());
    let verifier =
        tokenaudit::model::LoadedModel::with_tokenizer(&s, scan.vocab.clone(), scan.audit.clone())?;
    super::warn(&verifier.warnings);
    let report = verify::run_with(&verifier, &s, &scan.candidates)?;
    output::verify::write_glitch_csv(&scan, &report, &a.csv)?;
    std::fs::remove_file(&partial).ok();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.json {
        let mut j = output::scan::to_json(&scan);
        j["verify"] = output::verify::to_json(&report, &s);
        j["verified"] = serde_json::json!(output::verify::glitch_metrics(&scan, &report));
        serde_json::to_writer(&mut out, &j)?;
        writeln!(out)?;
    } else {
        output::scan::write_summary(&scan, &mut out)?;
        writeln!(out)?;
        s.csv = None;
        output::verify::write_summary(&report, &s, &mut out)?;
        if let Some(m) = output::verify::glitch_metrics(&scan, &report) {
            writeln!(
                out,
                "\nverified under-trained vs count = 0: precision {:.4}, recall {:.4}",
                m["precision"], m["recall"]
            )?;
        }
        writeln!(out, "\nglitch-token CSV written to {}", a.csv.display())?;
    }
    Ok(())
}

/// `out.csv` → `out.csv.partial.csv`: the resumable verify log beside the final file.
fn partial_path(csv: &std::path::Path) -> PathBuf {
    let mut name = csv.file_name().unwrap_or_default().to_os_string();
    name.push(".partial.csv");
    csv.with_file_name(name)
}

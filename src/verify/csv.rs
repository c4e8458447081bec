//! The verify CSV's one schema (header, row format, row parse), used by the resumable
//! log and by everything that reads the file back (the report).
//!
//! The verify CSV is an append-only log: rows are written and synced batch by batch, so a
//! killed run loses at most the batch in flight, and a rerun with the same output skips
//! the ids already there.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::fingerprint::{Fingerprint, PREFIX};
use super::{Row, Verdict};
use crate::util::escape::spreadsheet;

/// The columns of a log for these prompts: id, decoded, one per prompt, score, verdict,
/// score_bound.
pub fn header(prompts: &[&str]) -> Vec<String> {
    let mut h = vec!["id".to_string(), "decoded".to_string()];
    h.extend(prompts.iter().map(|p| p.to_string()));
    h.extend([
        "score".to_string(),
        "verdict".to_string(),
        "score_bound".to_string(),
    ]);
    h
}

/// `exact`: the score is the probability; `upper`: only an upper bound on it is known.
pub fn bound_name(bound: bool) -> &'static str {
    if bound {
        "upper"
    } else {
        "exact"
    }
}

/// Scores are written with 7 significant digits, so a resumed file is byte-identical to
/// an uninterrupted one.
pub fn fmt_score(p: f32) -> String {
    format!("{p:.6e}")
}

/// One row as written: the decoded text made safe for spreadsheets, scores as
/// [`fmt_score`].
pub fn record(r: &Row) -> Vec<String> {
    let mut v = vec![r.id.to_string(), spreadsheet(&r.decoded)];
    v.extend(
        r.prompt_scores
            .iter()
            .map(|s| s.map(fmt_score).unwrap_or_default()),
    );
    v.extend([
        fmt_score(r.score),
        r.verdict.name().to_string(),
        bound_name(r.bound).to_string(),
    ]);
    v
}

/// The open log of one verification run, and the rows earlier runs already wrote.
pub struct Log {
    /// The log file, for messages.
    pub path: PathBuf,
    file: File,
    /// Rows already in the file, by id (not verified again).
    pub done: HashMap<u32, Row>,
}

impl Log {
    /// Open for appending; read the rows already done. A last line cut by a kill is
    /// dropped (its token is verified again). A log written by a run with another
    /// [`Fingerprint`] is refused, saying what differs, and so is a log another process
    /// holds (an advisory lock, held while the returned log lives).
    pub fn open(path: &Path, prompts: &[&str], fp: &Fingerprint) -> Result<Log> {
        let want = header(prompts);
        match crate::util::fs::check_output(path)? {
            crate::util::fs::Dest::File(_) => {}
            _ => bail!(
                "{}: a verify log is appended to and resumed from, so it must be a regular \
                 file, not a stream or device",
                path.display()
            ),
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("{}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "{}: another run is writing this log (it holds the file's lock); wait for it \
                 or choose another --csv",
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("{}: cannot lock", path.display()))
            }
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .with_context(|| format!("{}: not a UTF-8 CSV", path.display()))?;
        let mut done = HashMap::new();
        // Drop a last line cut by a kill first: when that line was the header, the file
        // is then empty and gets a fresh header, as if the kill had come before it.
        if !text.is_empty() && !text.ends_with('\n') {
            let keep = text.rfind('\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64)
                .and_then(|_| file.seek(SeekFrom::End(0)))
                .with_context(|| {
                    format!("{}: cannot cut the unfinished last line", path.display())
                })?;
            text.truncate(keep);
        }
        // A kill between the fingerprint and the header leaves the fingerprint alone.
        if let Some(first) = text.strip_suffix('\n') {
            if !first.contains('\n') && Fingerprint::parse(first).as_ref() == Some(fp) {
                file.set_len(0)
                    .with_context(|| format!("{}: write failed", path.display()))?;
                text.clear();
            }
        }
        if text.is_empty() {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(&want)?;
            let mut bytes = format!("{}\n", fp.line()).into_bytes();
            bytes.extend(w.into_inner()?);
            file.write_all(&bytes)
                .and_then(|_| file.sync_data())
                .with_context(|| format!("{}: write failed", path.display()))?;
        } else {
            let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
            let Some(logged) = Fingerprint::parse(first) else {
                bail!(
                    "{}: exists and is not a verify log of this version (its first line is no \
                     {} fingerprint): remove it or choose another --csv",
                    path.display(),
                    PREFIX.trim_end()
                );
            };
            let diff = fp.differences(&logged);
            if !diff.is_empty() {
                bail!(
                    "{}: was written by another run ({}); resuming would mix the two in one \
                     file: remove it or choose another --csv",
                    path.display(),
                    diff.join("; ")
                );
            }
            let mut rdr = csv::Reader::from_reader(rest.as_bytes());
            let got: Vec<String> = rdr.headers()?.iter().map(String::from).collect();
            if got != want {
                bail!(
                    "{}: exists with columns [{}], not a verify log for prompts [{}]; remove it \
                     or choose another --csv",
                    path.display(),
                    got.join(","),
                    prompts.join(",")
                );
            }
            for (i, rec) in rdr.records().enumerate() {
                let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
                let row = parse_row(&rec, prompts.len())
                    .with_context(|| format!("{}: row {}", path.display(), i + 2))?;
                done.insert(row.id, row);
            }
        }
        Ok(Log {
            path: path.to_path_buf(),
            file,
            done,
        })
    }

    /// Append rows and sync them to disk, so a kill after this loses none of them.
    pub fn append(&mut self, rows: &[Row]) -> Result<()> {
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in rows {
            w.write_record(record(r))?;
        }
        self.file
            .write_all(&w.into_inner()?)
            .and_then(|_| self.file.sync_data())
            .with_context(|| format!("{}: write failed", self.path.display()))
    }
}

/// One row of a log whose header matched [`header`] (strict: a log resumed from must be
/// exactly what this program wrote).
fn parse_row(rec: &csv::StringRecord, n_prompts: usize) -> Result<Row> {
    let field = |i: usize| rec.get(i).unwrap_or("");
    let id: u32 = field(0).parse().context("id is not a number")?;
    let mut prompt_scores = Vec::with_capacity(n_prompts);
    for k in 0..n_prompts {
        let f = field(2 + k);
        prompt_scores.push(if f.is_empty() {
            None
        } else {
            Some(f.parse::<f32>().context("score is not a number")?)
        });
    }
    let score: f32 = field(2 + n_prompts)
        .parse()
        .context("score is not a number")?;
    let verdict = Verdict::parse(field(3 + n_prompts))
        .ok_or_else(|| anyhow::anyhow!("unknown verdict {:?}", field(3 + n_prompts)))?;
    let bound = match field(4 + n_prompts) {
        "exact" => false,
        "upper" => true,
        other => bail!("score_bound is {other:?}, not exact or upper"),
    };
    Ok(Row {
        id,
        decoded: field(1).to_string(),
        prompt_scores,
        score,
        bound,
        verdict,
    })
}

/// A field's text for an error message, cut short: a stray quote can make one CSV field
/// swallow the rest of the file.
pub fn short(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() > MAX {
        format!("{:?}…", s.chars().take(MAX).collect::<String>())
    } else {
        format!("{s:?}")
    }
}

/// Read a whole log to show it: its prompt names and rows. Tolerant where showing allows
/// it: logs from before the `score_bound` column (every score exact), and a prompt score
/// that does not parse shows as missing.
pub fn read_log(path: &Path) -> Result<(Vec<String>, Vec<Row>)> {
    let mut rdr = reader(path)?;
    let h: Vec<String> = rdr
        .headers()
        .with_context(|| format!("{}", path.display()))?
        .iter()
        .map(String::from)
        .collect();
    // Logs before the `score_bound` column end at `verdict`.
    let n = h.len() - (h.last().map(String::as_str) == Some("score_bound")) as usize;
    if n < 4 || h[0] != "id" || h[1] != "decoded" || h[n - 2] != "score" || h[n - 1] != "verdict" {
        bail!(
            "{}: columns [{}] are not a verify CSV (id, decoded, prompts…, score, verdict)",
            path.display(),
            short(&h.join(","))
        );
    }
    let prompts: Vec<String> = h[2..n - 2].to_vec();
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| format!("{}: row {line}", path.display()))?;
        let f = |c: usize| rec.get(c).unwrap_or("");
        let at = |what: &str| format!("{}: row {line}: {what}", path.display());
        rows.push(Row {
            id: f(0).parse().with_context(|| at("id is not a number"))?,
            decoded: f(1).to_string(),
            prompt_scores: (0..prompts.len()).map(|k| f(2 + k).parse().ok()).collect(),
            score: f(n - 2)
                .parse()
                .with_context(|| at("score is not a number"))?,
            bound: n < h.len() && f(n) == bound_name(true),
            verdict: Verdict::parse(f(n - 1)).ok_or_else(|| {
                anyhow::anyhow!(at(&format!("unknown verdict {}", short(f(n - 1)))))
            })?,
        });
    }
    Ok((prompts, rows))
}

/// Ids of a scan CSV's candidate rows (`candidate == true`); every id when the file has
/// no candidate column.
pub fn read_candidates(path: &Path) -> Result<Vec<u32>> {
    let mut rdr = reader(path)?;
    let h = rdr
        .headers()
        .with_context(|| format!("{}", path.display()))?
        .clone();
    let col = |name: &str| h.iter().position(|c| c == name);
    let id_col = col("id")
        .or_else(|| col("token_id"))
        .ok_or_else(|| anyhow::anyhow!("{}: no 'id' column", path.display()))?;
    let cand_col = col("candidate");
    let mut ids = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        if let Some(c) = cand_col {
            if rec.get(c) != Some("true") {
                continue;
            }
        }
        let id = rec.get(id_col).unwrap_or("");
        ids.push(id.parse().with_context(|| {
            format!(
                "{}: row {}: id {id:?} is not a number",
                path.display(),
                i + 2
            )
        })?);
    }
    Ok(ids)
}

/// A reader of a CSV this program wrote, past a verify log's fingerprint line (records
/// start with an id, headers with `id`: no other line starts with `#`).
fn reader(path: &Path) -> Result<csv::Reader<std::io::Cursor<Vec<u8>>>> {
    Ok(csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(crate::util::text::read_input(path)?))
}

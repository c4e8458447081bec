//! Reading text files and quoting them in messages, and the one bounded read every
//! tokenizer, text and sidecar file goes through.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};

/// The most bytes a tokenizer or text file may have (the largest real tokenizer.json is
/// tens of MB); bounds `/dev/zero` and its kin. docs/faults.md.
pub const MAX_INPUT: u64 = 512 << 20;

/// Whether `path` names a pipe the way a shell hands one over: process substitution
/// (`<(cat tokenizer.json)` is `/dev/fd/N`) or standard input. Only these non-regular
/// files are read; a FIFO or device anywhere else is refused instead of waited on or
/// read forever.
pub fn is_named_pipe(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.starts_with("/dev/fd/") || s.starts_with("/proc/self/fd/") || s == "/dev/stdin"
}

/// Pipes already read: format detection and the loader both read the file, and a pipe
/// can be read once only.
static PIPES: Mutex<Option<HashMap<PathBuf, Arc<Vec<u8>>>>> = Mutex::new(None);

/// Refuse what [`read_bounded`] would not read: anything but a directory, a regular
/// file, or a named pipe ([`is_named_pipe`]). The message is "not a regular file".
pub fn check_readable(path: &Path) -> std::io::Result<std::fs::Metadata> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() && !meta.is_dir() && !is_named_pipe(path) {
        return Err(std::io::Error::other(
            "not a regular file (a pipe is read only as /dev/fd/N, e.g. <(cat FILE))",
        ));
    }
    Ok(meta)
}

/// The bytes of `path`, at most `max` of them: a regular file, or a named pipe
/// ([`is_named_pipe`], read once and kept for a second read). The error says what is
/// wrong without the path (callers add it).
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let meta = check_readable(path)?;
    if meta.is_dir() {
        return Err(std::io::Error::other("is a directory, not a file"));
    }
    let too_large = || {
        std::io::Error::other(format!(
            "larger than {} MiB, the most a tokenizer or text file may be",
            max >> 20
        ))
    };
    if meta.is_file() {
        if meta.len() > max {
            return Err(too_large());
        }
        let mut out = Vec::with_capacity(meta.len() as usize);
        std::fs::File::open(path)?
            .take(max + 1)
            .read_to_end(&mut out)?;
        if out.len() as u64 > max {
            return Err(too_large());
        }
        return Ok(out);
    }
    let mut pipes = PIPES.lock().unwrap_or_else(|e| e.into_inner());
    let pipes = pipes.get_or_insert_with(HashMap::new);
    if let Some(b) = pipes.get(path) {
        return Ok(b.as_ref().clone());
    }
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(too_large());
    }
    pipes.insert(path.to_path_buf(), Arc::new(out.clone()));
    Ok(out)
}

/// The bytes of a CSV or other input file, at most [`MAX_INPUT`] (a regular file or a
/// shell's pipe), for a reader over them: `/dev/zero` or a FIFO given as a CSV would
/// otherwise be read forever or waited on.
pub fn read_input(path: &Path) -> Result<std::io::Cursor<Vec<u8>>> {
    let bytes = read_bounded(path, MAX_INPUT).with_context(|| format!("{}", path.display()))?;
    Ok(std::io::Cursor::new(bytes))
}

/// Read a text file as UTF-8 (bounded by [`MAX_INPUT`]), naming the file and the byte
/// offset when it is not.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read_bounded(path, MAX_INPUT).with_context(|| format!("{}", path.display()))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => bail!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ),
    }
}

/// Messages quote pieces of the file (a token, a key, a line); a hostile file can make
/// those megabytes long. Keep the first 300 characters.
pub fn cap_message(msg: String) -> String {
    match msg.char_indices().nth(300) {
        Some((cut, _)) => format!("{}... ({} bytes in all)", &msg[..cut], msg.len()),
        None => msg,
    }
}

/// candle's errors carry a captured backtrace in their text when `RUST_BACKTRACE` is set
/// ("shape mismatch …\n   0: candle_core::error::Error::bt …"): keep what comes before it.
pub fn strip_backtrace(msg: &str) -> &str {
    let mut cut = msg.len();
    for (i, _) in msg.match_indices('\n') {
        let rest = msg[i + 1..].trim_start();
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && rest[digits..].starts_with(':') {
            cut = i;
            break;
        }
    }
    msg[..cut].trim_end()
}

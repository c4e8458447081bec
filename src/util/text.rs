//! Reading text files and quoting them in messages.

use std::path::Path;

use anyhow::{bail, Context, Result};

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

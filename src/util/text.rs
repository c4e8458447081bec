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

//! Output files written so that a crash never leaves half a file where a finished one is
//! expected.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Write a file atomically: into a temporary file beside it, then rename, so a crash or
/// Ctrl-C never leaves a half-written CSV where a finished one is expected.
pub fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tokenaudit-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("{}: cannot create a temporary file", dir.display()))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w)?;
        w.flush()
            .with_context(|| format!("{}: write failed", path.display()))?;
    }
    // Temporary files are created private (0600); a finished output is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("{}: cannot set permissions", path.display()))?;
    }
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot write: {}", path.display(), e.error))?;
    Ok(())
}

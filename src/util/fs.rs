//! Output files: checked before the work starts, written so that a crash never leaves half
//! a file where a finished one is expected, and with the permissions the user would get
//! from any other tool (docs/faults.md, "Output files").

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

/// Where an output really goes, once links and special names are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// A regular file (or none yet) at this path, written through a temporary file and a
    /// rename. A symlink given by the user is resolved to its target here, so the link
    /// survives and the file it names is replaced.
    File(PathBuf),
    /// `-` or `/dev/stdout`: this process's standard output.
    Stdout,
    /// `/dev/stderr`.
    Stderr,
    /// A FIFO, `/dev/null` or `/dev/fd/N` the user named: opened and written in place
    /// (no rename is possible, and none is needed: nothing reads it half-written as a
    /// finished file).
    Direct(PathBuf),
}

impl Dest {
    /// Whether the output is the terminal's or the caller's standard output, so a front
    /// end can move its own summary out of the way.
    pub fn is_stdout(&self) -> bool {
        matches!(self, Dest::Stdout)
    }
}

/// The most symlinks followed when resolving an output path (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// Decide where `path` would be written, or why it cannot be: a directory, a device, a
/// socket, a hard-linked file (a rename would leave its other names with the old text), a
/// missing or unwritable parent directory. Called by every front end for every output
/// path before any work starts, and again by [`write_atomic`].
pub fn check_output(path: &Path) -> Result<Dest> {
    let s = path.as_os_str();
    if s == "-" || s == "/dev/stdout" {
        return Ok(Dest::Stdout);
    }
    if s == "/dev/stderr" {
        return Ok(Dest::Stderr);
    }
    if s.is_empty() {
        bail!("an empty path is not an output file");
    }
    let st = s.to_string_lossy();
    if st.starts_with("/dev/fd/") || st.starts_with("/proc/self/fd/") {
        return Ok(Dest::Direct(path.to_path_buf()));
    }
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let meta = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                check_parent(path, &p)?;
                return Ok(Dest::File(p));
            }
            Err(e) => return Err(anyhow!("{}: {e}", path.display())),
        };
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(&p).with_context(|| format!("{}", path.display()))?;
            p = match p.parent() {
                Some(dir) if target.is_relative() => dir.join(target),
                _ => target,
            };
            continue;
        }
        if ft.is_dir() {
            bail!("{}: is a directory, not an output file", path.display());
        }
        if ft.is_file() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                if meta.nlink() > 1 {
                    bail!(
                        "{}: has {} hard links; replacing it would leave the other names with \
                         the old contents: remove it or choose another path",
                        path.display(),
                        meta.nlink()
                    );
                }
            }
            check_parent(path, &p)?;
            return Ok(Dest::File(p));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if ft.is_fifo() || (ft.is_char_device() && p == Path::new("/dev/null")) {
                return Ok(Dest::Direct(p));
            }
        }
        bail!(
            "{}: is a device or socket, not a regular file; refused as an output (a FIFO, \
             /dev/null, /dev/stdout or - is written directly)",
            path.display()
        );
    }
    bail!(
        "{}: more than {MAX_LINKS} symbolic links to follow",
        path.display()
    )
}

/// The directory a new file at `target` goes into must exist and be writable.
fn check_parent(given: &Path, target: &Path) -> Result<()> {
    let dir = parent_of(target);
    let meta = std::fs::metadata(dir).map_err(|e| {
        anyhow!(
            "{}: cannot write there: the directory {} {}",
            given.display(),
            dir.display(),
            match e.kind() {
                std::io::ErrorKind::NotFound => "does not exist".to_string(),
                _ => e.to_string(),
            }
        )
    })?;
    if !meta.is_dir() {
        bail!(
            "{}: cannot write there: {} is not a directory",
            given.display(),
            dir.display()
        );
    }
    if meta.permissions().readonly() {
        bail!(
            "{}: cannot write there: the directory {} is read-only",
            given.display(),
            dir.display()
        );
    }
    Ok(())
}

fn parent_of(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Write a file whole or not at all: into a temporary file beside it (created with the
/// user's umask, or given the mode of the file it replaces), synced, then renamed over
/// it; on every failure the temporary file is removed. A temporary file left by a killed
/// run (`.NAME.tokenaudit-PID-N.tmp`, its process gone) is removed by the next write of
/// the same output. Non-regular destinations go as [`check_output`] says.
pub fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let failed = |e: anyhow::Error| {
        let text = format!("{e:#}");
        if text.contains(&path.display().to_string()) {
            e
        } else {
            e.context(format!("{}: write failed", path.display()))
        }
    };
    match check_output(path)? {
        Dest::Stdout => {
            let mut out = std::io::stdout().lock();
            fill(&mut out).map_err(failed)?;
            out.flush().map_err(|e| failed(e.into()))
        }
        Dest::Stderr => {
            let mut out = std::io::stderr().lock();
            fill(&mut out).map_err(failed)?;
            out.flush().map_err(|e| failed(e.into()))
        }
        Dest::Direct(p) => {
            let f = OpenOptions::new()
                .write(true)
                .open(&p)
                .with_context(|| format!("{}", path.display()))?;
            let mut w = std::io::BufWriter::new(f);
            fill(&mut w).map_err(failed)?;
            w.flush().map_err(|e| failed(e.into()))
        }
        Dest::File(target) => write_file(path, &target, fill).map_err(failed),
    }
}

/// A temporary file that is removed when dropped, unless it was renamed into place.
struct Temp {
    path: PathBuf,
    file: Option<File>,
}

impl Drop for Temp {
    fn drop(&mut self) {
        self.file.take();
        std::fs::remove_file(&self.path).ok();
    }
}

fn write_file(
    given: &Path,
    target: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let dir = parent_of(target);
    let name = target
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file name", given.display()))?;
    remove_stale(dir, name);
    let existing = std::fs::metadata(target).ok();
    let mut tmp = create_temp(dir, name)
        .with_context(|| format!("{}: cannot create a temporary file", dir.display()))?;
    {
        let file = tmp.file.as_mut().expect("open until renamed");
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w)?;
        w.flush()?;
    }
    let file = tmp.file.as_ref().expect("open until renamed");
    // The file it replaces keeps its mode; a new one has the umask's (set at creation).
    if let Some(m) = existing {
        file.set_permissions(m.permissions())
            .with_context(|| format!("{}: cannot set permissions", given.display()))?;
    }
    file.sync_all()?;
    std::fs::rename(&tmp.path, target)
        .map_err(|e| anyhow!("{}: cannot write: {e}", given.display()))?;
    // Renamed: nothing to remove.
    tmp.path = PathBuf::new();
    tmp.file.take();
    // The rename itself survives a power cut once the directory is synced.
    if let Ok(d) = File::open(dir) {
        d.sync_all().ok();
    }
    Ok(())
}

/// `.NAME.tokenaudit-` : the prefix of every temporary file for output NAME.
fn temp_prefix(name: &std::ffi::OsStr) -> OsString {
    let mut s = OsString::from(".");
    s.push(name);
    s.push(".tokenaudit-");
    s
}

fn create_temp(dir: &Path, name: &std::ffi::OsStr) -> std::io::Result<Temp> {
    let pid = std::process::id();
    for n in 0u32.. {
        let mut file_name = temp_prefix(name);
        file_name.push(format!("{pid}-{n}.tmp"));
        let path = dir.join(file_name);
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // The kernel applies the umask, as for any file the user creates.
            o.mode(0o666);
        }
        match o.open(&path) {
            Ok(file) => {
                return Ok(Temp {
                    path,
                    file: Some(file),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

/// Remove temporary files of output `name` in `dir` whose process is gone (killed while
/// writing; a process cannot clean up after SIGKILL).
fn remove_stale(dir: &Path, name: &std::ffi::OsStr) {
    let prefix = temp_prefix(name);
    let prefix = prefix.to_string_lossy();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let f = e.file_name();
        let f = f.to_string_lossy();
        let Some(rest) = f.strip_prefix(prefix.as_ref()) else {
            continue;
        };
        let Some(pid) = rest
            .strip_suffix(".tmp")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !process_alive(pid) {
            std::fs::remove_file(e.path()).ok();
        }
    }
}

/// Whether a process with this id exists (Linux: /proc). Elsewhere every process counts
/// as alive, so nothing is removed that might be in use.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    if Path::new("/proc/self").exists() {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, text: &str) -> Result<()> {
        write_atomic(p, |w| Ok(w.write_all(text.as_bytes())?))
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tokenaudit-"))
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn modes_links_and_failures() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // An existing file keeps its mode.
        let f = d.path().join("a.csv");
        std::fs::write(&f, "old").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        write(&f, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        assert_eq!(mode(&f), 0o600);
        // A symlink is written through: the link stays, its target changes.
        let link = d.path().join("link.csv");
        std::os::unix::fs::symlink("a.csv", &link).unwrap();
        write(&link, "via link").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "via link");
        // A dangling symlink creates its target.
        let dangling = d.path().join("dangling.csv");
        std::os::unix::fs::symlink("made.csv", &dangling).unwrap();
        write(&dangling, "made").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("made.csv")).unwrap(),
            "made"
        );
        // A hard-linked file is refused, untouched.
        let hard = d.path().join("hard.csv");
        std::fs::hard_link(&f, &hard).unwrap();
        let e = write(&hard, "x").unwrap_err();
        assert!(format!("{e:#}").contains("has 2 hard links"), "{e:#}");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "via link");
        std::fs::remove_file(&hard).unwrap();
        // A failing fill leaves the old file and no temporary file.
        let e = write_atomic(&f, |w| {
            w.write_all(b"half")?;
            bail!("disk full")
        })
        .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!("{}: write failed: disk full", f.display())
        );
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "via link");
        assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
        // A killed run's temporary file is removed by the next write; a live one is not.
        let stale = d.path().join(".a.csv.tokenaudit-999999999-0.tmp");
        std::fs::write(&stale, "x").unwrap();
        let live = d.path().join(format!(".a.csv.tokenaudit-{}-7.tmp", 1));
        std::fs::write(&live, "x").unwrap();
        write(&f, "again").unwrap();
        assert!(!stale.exists());
        assert!(live.exists());
        // A directory, a missing parent, a device: refused before any work.
        let e = check_output(d.path()).unwrap_err();
        assert!(format!("{e:#}").ends_with("is a directory, not an output file"));
        let e = check_output(&d.path().join("no/such/x.csv")).unwrap_err();
        assert!(format!("{e:#}").contains("does not exist"), "{e:#}");
        let e = check_output(Path::new("/dev/zero")).unwrap_err();
        assert!(format!("{e:#}").contains("is a device or socket"), "{e:#}");
        assert_eq!(
            check_output(Path::new("/dev/null")).unwrap(),
            Dest::Direct("/dev/null".into())
        );
        assert_eq!(check_output(Path::new("-")).unwrap(), Dest::Stdout);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_gets_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        // The mode a plain create gets under this process's umask.
        let probe = d.path().join("probe");
        {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o666)
                .open(&probe)
                .unwrap();
        }
        let want = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
        let f = d.path().join("new.csv");
        write(&f, "x").unwrap();
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            want
        );
    }
}

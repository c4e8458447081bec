//! Issue 17, part 5: output files get the user's umask (or keep the mode of the file they
//! replace), symlinks are written through, `-`, `/dev/stdout`, FIFOs and `/dev/null` are
//! written directly, devices, directories and hard-linked files are refused before any
//! work, and a killed run's temporary file is cleaned up by the next one.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;
use crate::hardening::{assert_error, bin, run};

fn tokenizer() -> PathBuf {
    common::data().join("models/stories260K/tokenizer.json")
}

/// `audit --csv OUT` under `umask`, through sh.
fn audit_umask(out: &Path, umask: &str) -> (i32, String, String) {
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!(
        "umask {umask}; exec {} audit -t {} --csv {}",
        env!("CARGO_BIN_EXE_tokenaudit"),
        tokenizer().display(),
        out.display()
    ));
    run(c, 60)
}

fn audit(out: &str) -> (i32, String, String) {
    let mut c = bin();
    c.arg("audit")
        .arg("-t")
        .arg(tokenizer())
        .args(["--csv", out]);
    run(c, 60)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn temps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tokenaudit-"))
        .collect()
}

#[test]
fn modes_follow_the_umask_or_the_replaced_file() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.csv");
    assert_eq!(audit_umask(&a, "077").0, 0);
    assert_eq!(mode(&a), 0o600);
    let b = tmp.path().join("b.csv");
    assert_eq!(audit_umask(&b, "022").0, 0);
    assert_eq!(mode(&b), 0o644);
    // An existing 0600 file stays 0600 under umask 022; 0640 stays 0640.
    assert_eq!(audit_umask(&a, "022").0, 0);
    assert_eq!(mode(&a), 0o600);
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(audit_umask(&b, "000").0, 0);
    assert_eq!(mode(&b), 0o640);
    assert!(temps(tmp.path()).is_empty());
}

#[test]
fn links_streams_and_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let plain = t.join("plain.csv");
    let (code, out, _) = audit(plain.to_str().unwrap());
    assert_eq!(code, 0);
    let want = std::fs::read(&plain).unwrap();
    assert!(out.contains("per-token CSV written to"));

    // A symlink is written through: the link stays a link, its target gets the file.
    let target = t.join("target.csv");
    let link = t.join("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(audit(link.to_str().unwrap()).0, 0);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), want);

    // `-` and /dev/stdout: the CSV is stdout, the summary moves to stderr.
    for dash in ["-", "/dev/stdout"] {
        let (code, out, err) = audit(dash);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.as_bytes(), &want[..], "{dash}");
        assert!(err.contains("per-token CSV written to"), "{err}");
    }

    // A FIFO is opened and written, not replaced.
    let fifo = t.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    assert_eq!(audit(fifo.to_str().unwrap()).0, 0);
    assert_eq!(reader.join().unwrap(), want);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    // /dev/null swallows it and stays a device.
    assert_eq!(audit("/dev/null").0, 0);
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());

    // Other devices, directories, missing directories and hard links: refused.
    assert_error(
        audit("/dev/zero"),
        "/dev/zero: is a device or socket, not a regular file; refused as an output (a \
         FIFO, /dev/null, /dev/stdout or - is written directly)",
    );
    assert_error(
        audit(t.to_str().unwrap()),
        &format!("{}: is a directory, not an output file", t.display()),
    );
    let missing = t.join("no/such/out.csv");
    assert_error(
        audit(missing.to_str().unwrap()),
        &format!(
            "{}: cannot write there: the directory {} does not exist",
            missing.display(),
            t.join("no/such").display()
        ),
    );
    let hard = t.join("hard.csv");
    std::fs::hard_link(&plain, &hard).unwrap();
    assert_error(
        audit(hard.to_str().unwrap()),
        &format!(
            "{}: has 2 hard links; replacing it would leave the other names with the old \
             contents: remove it or choose another path",
            hard.display()
        ),
    );
    assert!(temps(t).is_empty(), "{:?}", temps(t));
}

#[test]
fn a_bad_output_path_fails_before_the_work() {
    let tmp = tempfile::tempdir().unwrap();
    let model = common::data().join("models/stories260K");
    // glitch with a directory as its CSV: refused before the scan or any forward pass
    // (no progress bar, no partial log).
    let mut c = bin();
    c.arg("glitch").arg(&model).arg("--csv").arg(tmp.path());
    let (code, _, err) = run(c, 60);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "tokenaudit: error: {}: is a directory, not an output file",
            tmp.path().display()
        )
    );
    assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none());
    // A killed run's temporary file is removed by the next write of the same output.
    let out = tmp.path().join("s.csv");
    let stale = tmp.path().join(".s.csv.tokenaudit-999999999-0.tmp");
    std::fs::write(&stale, "half").unwrap();
    let mut c = bin();
    c.arg("scan").arg(&model).arg("--csv").arg(&out);
    let (code, _, err) = run(c, 60);
    assert_eq!(code, 0, "{err}");
    assert!(out.exists() && !stale.exists());
}

//! Issue 17, part 3: devices and FIFOs given as inputs are refused at once (never read
//! forever, never waited on); a pipe the user hands over as /dev/fd/N is read, once, with
//! the same bounds as a file.

use std::path::Path;
use std::process::Command;

use crate::common;
use crate::hardening::{bin, config, model_dir, run};

/// Exit 1 within the deadline, one line, containing `want`.
fn refused(r: (i32, String, String), want: &str) {
    let (code, _, err) = r;
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(want), "{err}\nwant: {want}");
}

fn fifo(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    assert!(Command::new("mkfifo").arg(&p).status().unwrap().success());
    p
}

#[test]
fn devices_and_fifos_are_refused_without_waiting() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let not_regular = "not a regular file";
    for format in ["hf", "sentencepiece", "tiktoken"] {
        let mut c = bin();
        c.args(["audit", "-t", "/dev/zero", "--format", format]);
        refused(run(c, 20), &format!("/dev/zero: {not_regular}"));
    }
    let mut c = bin();
    c.args(["encode", "-t"])
        .arg(common::data().join("models/stories260K/tokenizer.json"))
        .args(["--file", "/dev/zero"]);
    refused(run(c, 20), &format!("/dev/zero: {not_regular}"));
    // A FIFO nobody writes to: as tokenizer, as model, as a model's config.json.
    let f = fifo(t, "tok.json");
    let mut c = bin();
    c.arg("audit").arg("-t").arg(&f);
    refused(run(c, 20), &format!("{}: {not_regular}", f.display()));
    let m = fifo(t, "model.safetensors");
    let mut c = bin();
    c.arg("scan").arg(&m);
    refused(run(c, 20), not_regular);
    let mut c = bin();
    c.arg("verify").arg(&m).args(["--ids", "5"]);
    refused(run(c, 20), not_regular);
    let dir = model_dir(t, "zero_config", &config(), None);
    std::fs::remove_file(dir.join("config.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("config.json")).unwrap();
    let mut c = bin();
    c.arg("verify").arg(&dir).args(["--ids", "5"]);
    refused(run(c, 20), "config.json");
}

#[test]
fn a_pipe_handed_over_by_the_shell_is_read() {
    let tok = common::data().join("models/stories260K/tokenizer.json");
    let direct = {
        let mut c = bin();
        c.arg("audit").arg("-t").arg(&tok).arg("--json");
        run(c, 60)
    };
    assert_eq!(direct.0, 0, "{}", direct.2);
    let mut c = Command::new("bash");
    c.arg("-c").arg(format!(
        "exec {} audit -t <(cat {}) --json",
        env!("CARGO_BIN_EXE_tokenaudit"),
        tok.display()
    ));
    let (code, out, err) = run(c, 60);
    assert_eq!(code, 0, "{err}");
    let a: serde_json::Value = serde_json::from_str(&direct.1).unwrap();
    let b: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["counts"], b["counts"]);
    assert_eq!(a["categories"], b["categories"]);
    assert!(a["counts"].is_object(), "{a}");
}

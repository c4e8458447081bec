//! llama.cpp's server for the integration tests, built once from the llama.cpp source in
//! the llama-cpp-python package by scripts/build-llama-server.sh (cached under
//! target/engine; `TOKENAUDIT_LLAMA_SERVER` points at another binary), serving a GGUF that
//! `tokenaudit export-gguf` made.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("TOKENAUDIT_LLAMA_SERVER") {
            return PathBuf::from(p);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/build-llama-server.sh");
        let out = Command::new("bash")
            .arg(script)
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/build-llama-server.sh");
        assert!(out.status.success(), "scripts/build-llama-server.sh failed");
        let text = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(
            text.lines()
                .last()
                .expect("the script prints the binary")
                .trim(),
        )
    })
}

/// Export a shared model to GGUF with the project's own converter.
pub fn export(model: &Path, out: &Path, dtype: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .arg("export-gguf")
        .arg(model)
        .arg(out)
        .args(["--dtype", dtype])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

pub struct LlamaServer {
    child: Child,
    pub url: String,
}

impl LlamaServer {
    /// Start on a free port with `slots` parallel sequences of `ctx` positions each, and
    /// wait until it answers /health.
    pub fn start(gguf: &Path, slots: usize, ctx: usize) -> LlamaServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary())
            .arg("-m")
            .arg(gguf)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["-c", &(slots * ctx).to_string(), "-np", &slots.to_string()])
            .args(["-t", "2", "--no-webui"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start llama-server");
        let s = LlamaServer {
            child,
            url: format!("http://127.0.0.1:{port}/v1"),
        };
        let health = format!("http://127.0.0.1:{port}/health");
        let t = Instant::now();
        loop {
            if let Ok(r) = ureq::get(&health).call() {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "llama-server did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        self.kill();
    }
}

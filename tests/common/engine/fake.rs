//! A misbehaving OpenAI-compatible engine on 127.0.0.1, for the fault tests: it answers
//! `/v1/models` and `/v1/completions` with llama.cpp-shaped bodies naming real Llama-2
//! ids, and fails in the ways real engines do.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What goes wrong, from the `after`-th completion request on (counting from 0).
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Always a valid answer.
    None,
    /// `200` with a body that is not JSON.
    MalformedJson,
    /// The answer comes after this long.
    Slow(Duration),
    /// The next n requests answer 503, then valid answers again.
    Unavailable(usize),
    /// The engine is gone: connections are closed unanswered.
    Dead,
    /// Requests asking more log-probabilities than this get a 400, as vLLM answers.
    MaxLogprobs(u64),
}

pub struct FakeEngine {
    pub url: String,
    pub completions: Arc<AtomicUsize>,
    /// The last `Authorization` header seen.
    pub auth: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(
            self.url
                .trim_start_matches("http://")
                .trim_end_matches("/v1"),
        );
    }
}

const MODELS: &str =
    r#"{"object":"list","data":[{"id":"fake","object":"model","owned_by":"tests"}]}"#;

/// `" the"` (278) is the greedy token with p = 0.6; `"."` (29889) has 0.3.
fn completion(max_tokens: usize) -> String {
    let step = r#"{"id":278,"token":" the","bytes":[32,116,104,101],"logprob":-0.5108256,
        "top_logprobs":[{"id":278,"token":" the","bytes":[32,116,104,101],"logprob":-0.5108256},
                        {"id":29889,"token":".","bytes":[46],"logprob":-1.2039728}]}"#;
    let steps = vec![step; max_tokens].join(",");
    format!(
        r#"{{"choices":[{{"text":"","index":0,"finish_reason":"length","logprobs":{{"content":[{steps}]}}}}]}}"#
    )
}

impl FakeEngine {
    pub fn start(fault: Fault, after: usize) -> FakeEngine {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let completions = Arc::new(AtomicUsize::new(0));
        let auth = Arc::new(Mutex::new(None));
        let (st, n, a) = (stop.clone(), completions.clone(), auth.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (n, a) = (n.clone(), a.clone());
                std::thread::spawn(move || serve(conn, fault, after, &n, &a));
            }
        });
        FakeEngine {
            url: format!("http://{addr}/v1"),
            completions,
            auth,
            stop,
        }
    }
}

fn serve(
    mut conn: TcpStream,
    fault: Fault,
    after: usize,
    n: &AtomicUsize,
    auth: &Mutex<Option<String>>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if h.to_ascii_lowercase().starts_with("authorization:") {
                *auth.lock().unwrap() = Some(h["authorization:".len()..].trim().to_string());
            }
        }
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, text) = if path.ends_with("/models") {
            (200, MODELS.to_string())
        } else {
            let k = n.fetch_add(1, Ordering::SeqCst);
            let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let max = req["max_tokens"].as_u64().unwrap_or(1) as usize;
            let asked = req["logprobs"].as_u64().unwrap_or(0);
            match fault {
                Fault::MaxLogprobs(m) if asked > m => (
                    400,
                    format!(
                        r#"{{"object":"error","message":"Requested sample logprobs of {asked}, which is greater than max allowed: {m}","code":400}}"#
                    ),
                ),
                _ if k < after => (200, completion(max)),
                Fault::MaxLogprobs(_) => (200, completion(max)),
                Fault::None => (200, completion(max)),
                Fault::MalformedJson => (200, r#"{"choices": [{"text": "oops""#.to_string()),
                Fault::Slow(d) => {
                    std::thread::sleep(d);
                    (200, completion(max))
                }
                Fault::Unavailable(n) if k < after + n => (503, r#"{"error":"loading"}"#.into()),
                Fault::Unavailable(_) => (200, completion(max)),
                Fault::Dead => return,
            }
        };
        let (reason, extra) = match status {
            200 => ("OK", ""),
            400 => ("Bad Request", ""),
            _ => ("Service Unavailable", "Retry-After: 1\r\n"),
        };
        let resp = format!(
            "HTTP/1.1 {status} {reason}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if conn.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

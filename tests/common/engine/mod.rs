//! Serving engines for the tests: a real llama.cpp server, and a fake one for faults.

pub mod fake;
pub mod server;

/// One engine test at a time across every test module: each starts a server (or a fake
/// one with timing assertions) and clients that would otherwise fight over the CI
/// machine's two cores and the timeouts inside the tests.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// One row of a verify CSV, as the engine comparisons read it.
pub struct Row {
    pub score: f64,
    pub verdict: String,
    pub bound: bool,
}

/// The rows of a verify CSV by id (score, verdict, score_bound are its last columns).
pub fn read_rows(csv: &std::path::Path) -> std::collections::HashMap<u32, Row> {
    let mut r = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_path(csv)
        .unwrap();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let n = rec.len();
            (
                rec[0].parse().unwrap(),
                Row {
                    score: rec[n - 3].parse().unwrap(),
                    verdict: rec[n - 2].to_string(),
                    bound: &rec[n - 1] == "upper",
                },
            )
        })
        .collect()
}

/// `--ids` for a list of ids.
pub fn ids_arg(ids: &[u32]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

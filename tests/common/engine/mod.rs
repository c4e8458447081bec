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

//! Serving engines for the tests: a real llama.cpp server, and a fake one for faults.

pub mod fake;
pub mod server;

//! The fuzz tests, one module per parser family, in a binary of their own: its counting
//! global allocator measures each case's heap, which other tests running beside it in
//! one process would disturb. The driver is `driver.rs`; results are in docs/faults.md.

#[path = "../common/mod.rs"]
mod common;
mod driver;

mod csv;
mod detect;
mod engine;
mod eval;
mod gguf;
mod json;
mod model;
mod safetensors;
mod spm;
mod tiktoken;

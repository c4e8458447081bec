//! The integration tests, in one binary (one link instead of one per file). They read the
//! real tokenizers and models in `../shared/data`; helpers live in `tests/common/`.

#[path = "../common/mod.rs"]
mod common;

mod architectures;
mod audit_counts;
mod bad_input;
mod broken_weights;
mod chat;
mod config_keys;
mod demo;
mod digits;
mod export_gguf;
mod formats_agree;
mod generate;
mod gguf_model;
mod gguf_vectors;
mod hardening;
mod openai_engine;
mod openai_faults;
mod output_files;
mod quantized;
mod reference_models;
mod references;
mod report;
mod resume_integrity;
mod sampler;
mod scan;
mod small_bugs;
mod special_files;
mod tekken;
mod verify;
mod weights;

//! tokenaudit: audit tokenizers and find the tokens a model never learned.
//!
//! The modules follow the pipeline: [`vocab`] loads any tokenizer format into one
//! [`vocab::Vocab`], [`audit`] categorizes every id, and [`output`] writes the readable
//! summary, CSV and JSON.

pub mod audit;
pub mod cli;
pub mod demo;
pub mod digits;
pub mod eval;
pub mod export;
pub mod generate;
pub mod gguf;
pub mod indicators;
pub mod openai;
pub mod output;
pub mod pause;
pub mod progress;
pub mod report;
pub mod sampler;
pub mod scan;
mod simd;
pub mod verify;
pub mod vocab;
pub mod weights;

//! tokenaudit: audit tokenizers and find the tokens a model never learned.
//!
//! The modules follow the pipeline (see docs/architecture.md): [`vocab`] loads any
//! tokenizer format into one [`vocab::Vocab`] and [`audit`] categorizes every id;
//! [`weights`] maps a checkpoint's embedding matrices, [`indicators`] and [`scan`] flag
//! candidates; [`model`] runs forward passes that [`verify`], [`pause`], [`generate`] and
//! [`eval`] share; [`output`] and [`report`] write what a person or a program reads.

pub mod audit;
pub mod chat;
pub mod demo;
pub mod digits;
pub mod eval;
pub mod export;
pub mod generate;
pub mod gguf;
pub mod glitch;
pub mod hf;
pub mod indicators;
pub mod model;
pub mod openai;
pub mod output;
pub mod pause;
pub mod report;
pub mod sampler;
pub mod scan;
pub mod util;
pub mod verify;
pub mod vocab;
pub mod weights;

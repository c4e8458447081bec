//! A serving engine as the backend: models too large for one machine run on vLLM,
//! llama.cpp's server or TGI, and we talk to them through the OpenAI-compatible
//! completions API instead of writing our own distributed inference.
//!
//! Prompts go out as token-id lists, so a candidate is exactly one token, as in the
//! in-process path. What comes back is only the top few log-probabilities per step, so a
//! token's probability is either read exactly or bounded from above (see [`bound`]).

pub mod bound;
pub mod client;
pub mod logprobs;
pub mod pool;
pub mod vocab_check;

pub use client::{Client, Endpoint};

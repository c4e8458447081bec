//! Sampling (issue 7). Placeholder.

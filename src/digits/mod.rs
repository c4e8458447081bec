//! Digit pre-tokenization schemes (issue 6). Placeholder.

//! Small helpers every stage uses: reading text, writing output files, escaping text for
//! CSV and terminals, progress bars, the CPU-dispatched hot loops, and turning a
//! library's panic into an error.

pub mod escape;
pub mod fs;
pub mod panic;
pub mod progress;
pub(crate) mod simd;
pub mod text;

//! Progress bars on stderr, only for long work and only when a person is watching.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Work smaller than this finishes before a bar would be worth drawing.
const MIN_ITEMS: u64 = 10_000;

/// A bar for `len` items; hidden when stderr is not a terminal or the work is small.
pub fn bar(len: u64, msg: &'static str) -> ProgressBar {
    if len < MIN_ITEMS {
        return ProgressBar::hidden();
    }
    bar_always(len, msg)
}

/// A bar shown whenever stderr is a terminal, whatever the length: for slow work (forward
/// passes) where even a few hundred items take a while. Shows items/s and the ETA.
pub fn bar_always(len: u64, msg: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg);
    pb
}

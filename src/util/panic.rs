//! The last line of defence against a panic inside a dependency (candle's loaders unwrap
//! some shape errors; its kernels index by the config): [`catch`] runs a closure and turns
//! a panic into an error naming what was being done, without the default hook's
//! multi-line report on stderr.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use anyhow::{anyhow, Result};

thread_local! {
    /// Set while [`catch`] runs on this thread: the hook stays silent.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Install (once) a hook that defers to the previous one except on a thread inside
/// [`catch`].
fn install() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
}

/// The text of a panic's payload.
fn payload_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// Run `f`; a panic comes back as the error "`what`: internal error in candle: MESSAGE"
/// (one line). `what` names the file and the step.
pub fn catch<T>(what: impl FnOnce() -> String, f: impl FnOnce() -> Result<T>) -> Result<T> {
    install();
    let was = QUIET.with(|q| q.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    match r {
        Ok(r) => r,
        Err(p) => {
            let msg = payload_text(&*p);
            let first = crate::util::text::strip_backtrace(&msg);
            Err(anyhow!(
                "{}: internal error in candle: {}",
                what(),
                first.replace('\n', " ")
            ))
        }
    }
}

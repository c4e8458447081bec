//! Bounded parallelism for blocking requests: `n` worker threads take items in order, so
//! at most `n` requests are in flight. (rayon's pool is for CPU work; parking its threads
//! on sockets would starve the rest of the program.)

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Apply `f` to every item with at most `n` calls at once; results in item order. After
/// the first error no new item starts, and the items never started are `None`.
pub fn map<T, R, E, F>(items: &[T], n: usize, f: F) -> Vec<Option<Result<R, E>>>
where
    T: Sync,
    R: Send,
    E: Send,
    F: Fn(&T) -> Result<R, E> + Sync,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let out: Mutex<Vec<Option<Result<R, E>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..n.max(1).min(items.len()) {
            s.spawn(|| loop {
                if failed.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                out.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    out.into_inner().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_bounds_in_flight() {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items: Vec<u32> = (0..40).collect();
        let got = map(&items, 4, |&x| {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok::<u32, ()>(x * 2)
        });
        let vals: Vec<u32> = got.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(vals, (0..40).map(|x| x * 2).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 4);
        assert!(peak.load(Ordering::SeqCst) >= 2);
    }

    #[test]
    fn stops_after_an_error() {
        let items: Vec<u32> = (0..100).collect();
        let got = map(&items, 1, |&x| if x == 3 { Err(x) } else { Ok(x) });
        assert_eq!(got[3], Some(Err(3)));
        assert!(got[4..].iter().all(|r| r.is_none()));
    }
}

//! The driver shared by the fuzz tests (`tests/fuzz_*.rs`, one per parser family).
//!
//! Each case writes its input files into a fresh directory and calls the real loader on
//! them, on a thread of its own, under `catch_unwind` and a time limit, while a counting
//! global allocator measures the heap the case needed. A case passes when the loader
//! returns `Ok`, or an `Err` whose message names the file; it fails on a panic, on running
//! past the time limit, on an error that does not say which file, and on a peak heap above
//! [`heap_bound`]. Cases run one at a time within a test binary so that the heap measured
//! is the case's own.
//!
//! Inputs come from `proptest` strategies (random bytes, and mutations of the real files
//! in `../shared/data`) and from exhaustive sweeps (truncation at every structural
//! boundary). A failing case is saved under `target/tmp/fuzz-failures/`; copy it to
//! `tests/fuzz_regressions/` with the fix, where the replay tests pick it up.
//!
//! Knobs: `TOKENAUDIT_FUZZ_SCALE` multiplies every case count (default 1: the CI-sized
//! run), `TOKENAUDIT_FUZZ_SEED` seeds the random cases (default fixed, so CI is
//! repeatable), `TOKENAUDIT_FUZZ_TIMEOUT` is the per-case time limit in seconds (30).
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

// ---------------------------------------------------------------------------------------
// Heap accounting
// ---------------------------------------------------------------------------------------

/// Counts live heap bytes and their peak; refuses any single allocation over
/// [`SINGLE_ALLOC_LIMIT`] (the process then aborts with "memory allocation of N bytes
/// failed", which a fuzz run reports as a crash).
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static BIGGEST: AtomicUsize = AtomicUsize::new(0);

/// No single allocation a loader makes for a file of a few MB comes near this; a
/// hostile length that slips past a check does.
pub const SINGLE_ALLOC_LIMIT: usize = 1 << 31;

fn note(size: usize) {
    let now = LIVE.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(now, Relaxed);
    BIGGEST.fetch_max(size, Relaxed);
}

fn refuse(size: usize) {
    // No allocation here: format the number on the stack.
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = size;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut err = std::io::stderr();
    let _ = err.write_all(b"fuzz: refused a single allocation of ");
    let _ = err.write_all(&buf[i..]);
    let _ = err.write_all(b" bytes (limit 2 GiB); the input is in target/tmp/fuzz/*/case\n");
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() > SINGLE_ALLOC_LIMIT {
            refuse(l.size());
            return std::ptr::null_mut();
        }
        let p = System.alloc(l);
        if !p.is_null() {
            note(l.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if l.size() > SINGLE_ALLOC_LIMIT {
            refuse(l.size());
            return std::ptr::null_mut();
        }
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            note(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        LIVE.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > SINGLE_ALLOC_LIMIT {
            refuse(new);
            return std::ptr::null_mut();
        }
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            LIVE.fetch_sub(l.size(), Relaxed);
            note(new);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The heap a case may use at its peak: 256 MiB plus 64 bytes per input byte. Loading a
/// vocabulary builds hash maps, a tokenizer and raw entries from every byte of the file,
/// so the honest bound grows with the input; a hostile length field must not add to it.
pub fn heap_bound(input_len: usize) -> usize {
    (256 << 20) + 64 * input_len
}

/// Peak resident set of this process so far (VmHWM), in KiB.
pub fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Knobs and paths
// ---------------------------------------------------------------------------------------

pub fn scale() -> f64 {
    std::env::var("TOKENAUDIT_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0)
}

/// `n` scaled by `TOKENAUDIT_FUZZ_SCALE`, at least 1.
pub fn scaled(n: usize) -> usize {
    ((n as f64) * scale()).round().max(1.0) as usize
}

pub fn seed() -> u64 {
    std::env::var("TOKENAUDIT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x007a_0d17)
}

pub fn timeout() -> Duration {
    Duration::from_secs(
        std::env::var("TOKENAUDIT_FUZZ_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    )
}

pub use crate::common::data;

pub fn read(rel: &str) -> Vec<u8> {
    let p = data().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn tmp_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// Every regression input kept for `target`: files `tests/fuzz_regressions/<target>/*`.
pub fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, Vec<u8>)> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read regression"),
            )
        })
        .collect();
    v.sort();
    v
}

/// Regression cases kept as directories (for loaders that read several files):
/// `tests/fuzz_regressions/<target>/<case>/*`, each directory one case.
pub fn regression_dirs(target: &str) -> Vec<(String, Vec<File>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut cases: Vec<(String, Vec<File>)> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let mut files: Vec<File> = std::fs::read_dir(e.path())
                .expect("read regression dir")
                .filter_map(|f| f.ok())
                .map(|f| {
                    (
                        f.file_name().to_string_lossy().into_owned(),
                        std::fs::read(f.path()).expect("read regression"),
                    )
                })
                .collect();
            files.sort();
            (e.file_name().to_string_lossy().into_owned(), files)
        })
        .collect();
    cases.sort();
    cases
}

// ---------------------------------------------------------------------------------------
// The case runner
// ---------------------------------------------------------------------------------------

/// One loader under test: given the case directory and the main file in it, load and
/// return a short summary, or the error message (already formatted with its causes).
pub type Loader = fn(&Path) -> Result<String, String>;

/// Serializes cases across the tests of one binary (the heap counter is global).
static CASE_LOCK: Mutex<()> = Mutex::new(());

#[derive(Default)]
struct Stats {
    cases: usize,
    ok: usize,
    err: usize,
    slowest: Duration,
    slowest_label: String,
    total: Duration,
    peak_heap: usize,
    peak_heap_input: usize,
    peak_heap_label: String,
    /// message shape → (count, example message, label of the case that gave it)
    messages: BTreeMap<String, (usize, String, String)>,
    /// case labels → count
    labels: BTreeMap<String, usize>,
}

pub struct Target {
    pub name: String,
    load: Loader,
    dir: PathBuf,
    stats: RefCell<Stats>,
    started: Instant,
}

/// Longest error message accepted as clear (a message quoting a whole hostile line or
/// header is not).
pub const MAX_MESSAGE_LEN: usize = 1000;

/// A file of a case: its name in the case directory and its bytes.
pub type File = (String, Vec<u8>);

/// Write one case file. A name starting with `@` makes a symbolic link to the path in
/// `bytes` instead (a model directory unpacked from an archive may hold links to
/// `/dev/zero` or anywhere), and one starting with `|` makes a named pipe (a FIFO: opening
/// it blocks until a writer comes, which none will).
fn write_case_file(dir: &Path, name: &str, bytes: &[u8]) {
    if let Some(link) = name.strip_prefix('@') {
        let target = String::from_utf8_lossy(bytes).into_owned();
        std::os::unix::fs::symlink(target, dir.join(link)).expect("symlink");
    } else if let Some(fifo) = name.strip_prefix('|') {
        let ok = std::process::Command::new("mkfifo")
            .arg(dir.join(fifo))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mkfifo failed");
    } else {
        std::fs::write(dir.join(name), bytes).expect("write case file");
    }
}

/// A catalogue row: what the input is, its files (the first is loaded), and text its
/// error message must contain ("" for an input that loads).
pub struct Row {
    pub input: String,
    pub files: Vec<File>,
    pub expect: &'static str,
}

pub fn row(input: impl Into<String>, files: Vec<File>, expect: &'static str) -> Row {
    Row {
        input: input.into(),
        files,
        expect,
    }
}

/// A case whose files are made when it runs.
pub type Lazy<'a> = (String, Box<dyn FnOnce() -> Vec<File> + 'a>);

pub fn lazy<'a>(label: impl Into<String>, make: impl FnOnce() -> Vec<File> + 'a) -> Lazy<'a> {
    (label.into(), Box::new(make))
}

pub fn file(name: &str, bytes: impl AsRef<[u8]>) -> File {
    (name.to_string(), bytes.as_ref().to_vec())
}

impl Target {
    pub fn new(name: &str, load: Loader) -> Target {
        let dir = tmp_root().join("fuzz").join(name);
        std::fs::create_dir_all(&dir).expect("fuzz dir");
        Target {
            name: name.to_string(),
            load,
            dir,
            stats: RefCell::new(Stats::default()),
            started: Instant::now(),
        }
    }

    /// Run one case: write `files` into a fresh directory, load `files[0]`.
    pub fn case(&self, label: &str, files: &[File]) -> Result<(), String> {
        self.run_case(label, files).map(|_| ())
    }

    /// [`Target::case`], returning what the loader said: `Ok(summary)` or `Err(message)`
    /// with the case directory taken out of the message (`<dir>` where it names it).
    pub fn run_case(&self, label: &str, files: &[File]) -> Result<Result<String, String>, String> {
        let _guard = CASE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.dir.join("case");
        // Remove what the last case left that this one does not overwrite (and anything
        // that is not a regular file: writing through a symbolic link would follow it).
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let regular = e.file_type().is_ok_and(|t| t.is_file());
                if !regular || !files.iter().any(|f| e.file_name() == f.0.as_str()) {
                    let p = e.path();
                    let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir_all(&p));
                }
            }
        }
        std::fs::create_dir_all(&dir).expect("case dir");
        for (name, bytes) in files {
            write_case_file(&dir, name, bytes);
        }
        let main = dir.join(files[0].0.trim_start_matches(['@', '|']));
        let input_len: usize = files.iter().map(|f| f.1.len()).sum();

        let live0 = LIVE.load(Relaxed);
        PEAK.store(live0, Relaxed);
        let start = Instant::now();
        let (tx, rx) = mpsc::channel();
        let load = self.load;
        let p = main.clone();
        let handle = std::thread::Builder::new()
            .name(format!("fuzz-{}", self.name))
            .stack_size(8 << 20)
            .spawn(move || {
                let r = catch_unwind(AssertUnwindSafe(|| load(&p)));
                let _ = tx.send(r);
            })
            .expect("spawn");
        let limit = timeout();
        let result = rx.recv_timeout(limit);
        let elapsed = start.elapsed();
        let outcome = match result {
            Ok(Ok(r)) => {
                let _ = handle.join();
                r
            }
            Ok(Err(panic)) => {
                let _ = handle.join();
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                return Err(self.fail(label, files, &format!("panicked: {msg}")));
            }
            Err(_) => {
                // The thread is left running; the test fails.
                return Err(self.fail(label, files, &format!("no result after {limit:?} (hang)")));
            }
        };
        let peak = PEAK.load(Relaxed).saturating_sub(live0);
        if std::env::var_os("TOKENAUDIT_FUZZ_VERBOSE").is_some() {
            eprintln!(
                "{}: {label}: {} ms, peak heap {} KiB, {}",
                self.name,
                elapsed.as_millis(),
                peak >> 10,
                match &outcome {
                    Ok(s) => format!("ok ({s})"),
                    Err(e) => format!("error: {:.200}", e),
                }
            );
        }

        let mut st = self.stats.borrow_mut();
        st.cases += 1;
        st.total += elapsed;
        *st.labels.entry(label.to_string()).or_default() += 1;
        if elapsed > st.slowest {
            st.slowest = elapsed;
            st.slowest_label = label.to_string();
        }
        if peak > st.peak_heap {
            st.peak_heap = peak;
            st.peak_heap_input = input_len;
            st.peak_heap_label = label.to_string();
        }
        drop(st);
        if peak > heap_bound(input_len) {
            return Err(self.fail(
                label,
                files,
                &format!(
                    "peak heap {} MiB over the bound {} MiB for {input_len} input bytes",
                    peak >> 20,
                    heap_bound(input_len) >> 20
                ),
            ));
        }
        match outcome {
            Ok(summary) => {
                self.stats.borrow_mut().ok += 1;
                Ok(Ok(summary))
            }
            Err(msg) => {
                let dir_s = format!("{}/", dir.display());
                let shown = msg
                    .replace(&dir_s, "")
                    .replace(&dir.display().to_string(), "<dir>");
                let names_file = files
                    .iter()
                    .any(|(n, _)| shown.contains(n.trim_start_matches(['@', '|'])))
                    || msg.contains(&dir.display().to_string());
                if shown.trim().is_empty() || !names_file {
                    return Err(self.fail(
                        label,
                        files,
                        &format!("error does not name the file: {shown:?}"),
                    ));
                }
                if shown.len() > MAX_MESSAGE_LEN {
                    return Err(self.fail(
                        label,
                        files,
                        &format!(
                            "error message of {} bytes (a clear one is short): {:?}",
                            shown.len(),
                            shown.chars().take(300).collect::<String>()
                        ),
                    ));
                }
                let mut st = self.stats.borrow_mut();
                st.err += 1;
                let e = st
                    .messages
                    .entry(shape(&shown))
                    .or_insert_with(|| (0, shown.clone(), label.to_string()));
                e.0 += 1;
                Ok(Err(shown))
            }
        }
    }

    /// Run the catalogue of named broken inputs: each must give an error containing its
    /// expected text (or load, where the expected text is empty). Writes the table of
    /// input → message to `target/tmp/fuzz-report/catalogue-<target>.md` (what
    /// docs/faults.md shows) and fails on any row that does not match.
    pub fn catalogue(&self, rows: Vec<Row>) {
        let mut md = String::new();
        let mut bad = Vec::new();
        for r in &rows {
            let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
            match self.run_case(&r.input, &r.files) {
                Err(e) => bad.push(e),
                Ok(Ok(summary)) => {
                    if !r.expect.is_empty() {
                        bad.push(format!(
                            "{}: expected an error containing {:?}, but it loaded ({summary})",
                            r.input, r.expect
                        ));
                    }
                    md.push_str(&format!(
                        "| {} | (loads: {}) |\n",
                        cell(&r.input),
                        cell(&summary)
                    ));
                }
                Ok(Err(msg)) => {
                    if r.expect.is_empty() || !msg.contains(r.expect) {
                        bad.push(format!("{}: expected {:?}, got {msg:?}", r.input, r.expect));
                    }
                    md.push_str(&format!("| {} | {} |\n", cell(&r.input), cell(&msg)));
                }
            }
        }
        let dir = tmp_root().join("fuzz-report");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("catalogue-{}.md", self.name)), md);
        self.report();
        assert!(bad.is_empty(), "catalogue mismatches:\n{}", bad.join("\n"));
    }

    /// Save a failing case's files and describe the failure.
    fn fail(&self, label: &str, files: &[File], why: &str) -> String {
        let h = files
            .iter()
            .flat_map(|f| f.1.iter())
            .fold(0xcbf29ce484222325u64, |h, &b| {
                (h ^ b as u64).wrapping_mul(0x100000001b3)
            });
        let dir = tmp_root()
            .join("fuzz-failures")
            .join(format!("{}-{h:016x}", self.name));
        let _ = std::fs::create_dir_all(&dir);
        for (name, bytes) in files {
            let _ = std::fs::write(dir.join(name), bytes);
        }
        let _ = std::fs::write(dir.join("WHY.txt"), format!("{label}\n{why}\n"));
        format!(
            "{}: case {label}: {why} (input saved in {})",
            self.name,
            dir.display()
        )
    }

    /// Run `cases` random cases drawn from `strategy`, each turned into files by `make`.
    /// A failure is shrunk by proptest to a small input before the test fails.
    pub fn random<S, F>(&self, cases: usize, strategy: S, make: F)
    where
        S: Strategy,
        S::Value: std::fmt::Debug,
        F: Fn(&S::Value) -> (String, Vec<File>),
    {
        let config = Config {
            cases: cases as u32,
            failure_persistence: None,
            rng_seed: RngSeed::Fixed(seed() ^ fnv(self.name.as_bytes())),
            max_shrink_iters: 256,
            max_shrink_time: 120_000,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        let r = runner.run(&strategy, |v| {
            let (label, files) = make(&v);
            self.case(&label, &files).map_err(TestCaseError::fail)
        });
        match r {
            Ok(()) => {}
            Err(TestError::Fail(why, v)) => panic!("{why}\nminimal input: {v:?}"),
            Err(e) => panic!("{e}"),
        }
    }

    /// Check that an unmutated seed loads (so that mutations start from a valid file).
    pub fn seed_loads(&self, label: &str, files: &[File]) {
        let dir = self.dir.join("seed");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("seed dir");
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).expect("write seed file");
        }
        if let Err(e) = (self.load)(&dir.join(&files[0].0)) {
            panic!("{}: seed {label} does not load: {e}", self.name);
        }
    }

    /// Run a fixed list of cases, stopping at the first failure.
    pub fn sweep(&self, cases: impl IntoIterator<Item = (String, Vec<File>)>) {
        for (label, files) in cases {
            if let Err(e) = self.case(&label, &files) {
                panic!("{e}");
            }
        }
    }

    /// Like [`Target::sweep`], with each case's files made only when it runs (a list of
    /// thousands of mutated copies of megabyte files would not fit in memory).
    pub fn sweep_lazy(&self, cases: Vec<Lazy<'_>>) {
        for (label, make) in cases {
            let files = make();
            if let Err(e) = self.case(&label, &files) {
                panic!("{e}");
            }
        }
    }

    /// A one-line summary, also appended to `target/tmp/fuzz-report/<target>.txt` with the
    /// catalogue of messages seen.
    pub fn report(&self) -> String {
        let st = self.stats.borrow();
        let line = format!(
            "fuzz {}: {} cases ({} ok, {} clear errors), {:.1}s in all, slowest {} ms ({}), \
             peak heap {:.1} MiB ({}, {} input bytes), VmHWM {} MiB",
            self.name,
            st.cases,
            st.ok,
            st.err,
            st.total.as_secs_f64(),
            st.slowest.as_millis(),
            st.slowest_label,
            st.peak_heap as f64 / (1u64 << 20) as f64,
            st.peak_heap_label,
            st.peak_heap_input,
            vm_hwm_kib() / 1024,
        );
        let mut text = format!(
            "{line}\nwall {:.1}s\n\n",
            self.started.elapsed().as_secs_f64()
        );
        text.push_str("labels:\n");
        for (l, n) in &st.labels {
            text.push_str(&format!("  {n:6}  {l}\n"));
        }
        text.push_str("\nmessages (count | case | example):\n");
        for (n, example, label) in st.messages.values() {
            text.push_str(&format!("{n:6} | {label} | {example}\n"));
        }
        let dir = tmp_root().join("fuzz-report");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("{}.txt", self.name)), text);
        eprintln!("{line}");
        line
    }

    pub fn cases_run(&self) -> usize {
        self.stats.borrow().cases
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100000001b3)
    })
}

/// A message with its numbers and quoted parts blanked, to group messages by kind.
fn shape(msg: &str) -> String {
    let mut out = String::new();
    let mut last_digit = false;
    for c in msg.chars().take(90) {
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('N');
            }
            last_digit = true;
        } else {
            last_digit = false;
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Byte-level mutations
// ---------------------------------------------------------------------------------------

/// Values a length, count or offset field is set to.
pub const SPECIALS: &[&str] = &[
    "u64::MAX", "2^63", "2^40", "2^32", "u32::MAX", "past-EOF", "file-len", "0", "1",
];

/// The value of special `k` for a field at `at` in a file of `len` bytes.
pub fn special(k: usize, at: usize, len: usize) -> u64 {
    match k % SPECIALS.len() {
        0 => u64::MAX,
        1 => 1 << 63,
        2 => 1 << 40,
        3 => 1 << 32,
        4 => u32::MAX as u64,
        5 => (len.saturating_sub(at)) as u64 + 1,
        6 => len as u64,
        7 => 0,
        _ => 1,
    }
}

/// Width of a fixed-size little-endian field, or a protobuf varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    U32,
    U64,
    /// A varint of this many bytes (replaced by the special value's own encoding).
    Varint(usize),
}

/// A structural field of a seed file: where it is and how wide.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub at: usize,
    pub width: Width,
}

/// A seed file with its structure: boundaries (offsets where one element ends and the
/// next begins) and the length/count/offset fields that mutations may rewrite.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub name: String,
    pub bytes: Vec<u8>,
    pub bounds: Vec<usize>,
    pub fields: Vec<Field>,
}

/// One edit. Indices are reduced modulo the size of what they index, so any value is valid.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Cut at structural boundary `i`, shifted by -1, 0 or +1.
    CutAtBoundary(usize, i8),
    /// Cut at a random point.
    Cut(usize),
    FlipBit(usize, u8),
    SetByte(usize, u8),
    /// Set field `i` to special value `k`.
    SetField(usize, usize),
    /// Remove `n` bytes at boundary `i`.
    Delete(usize, u16),
    /// Copy the bytes between boundaries `i` and `i + 1 + k` and insert them after.
    Duplicate(usize, u8),
    /// Insert bytes at a random point.
    Insert(usize, Vec<u8>),
}

impl Mutation {
    pub fn kind(&self) -> &'static str {
        match self {
            Mutation::CutAtBoundary(..) => "truncate at a boundary",
            Mutation::Cut(..) => "truncate at a random point",
            Mutation::FlipBit(..) => "bit flip",
            Mutation::SetByte(..) => "byte set",
            Mutation::SetField(..) => "length/count/offset set to a huge or wrong value",
            Mutation::Delete(..) => "bytes deleted at a boundary",
            Mutation::Duplicate(..) => "element duplicated",
            Mutation::Insert(..) => "bytes inserted",
        }
    }
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), -1i8..=1).prop_map(|(i, d)| Mutation::CutAtBoundary(i, d)),
        1 => any::<usize>().prop_map(Mutation::Cut),
        3 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(i, k)| Mutation::SetField(i, k)),
        1 => (any::<usize>(), 1u16..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<usize>(), 0u8..4).prop_map(|(i, k)| Mutation::Duplicate(i, k)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

/// One to three mutations.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..=3)
}

pub fn encode_varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// Apply mutations to a seed's bytes. Boundaries and fields refer to the seed; after an
/// edit that changes the length they are clamped, which is still a valid (if shifted)
/// position.
pub fn apply(seed: &Seed, muts: &[Mutation]) -> Vec<u8> {
    let mut b = seed.bytes.clone();
    for m in muts {
        let len = b.len();
        let bound = |i: usize| -> usize {
            if seed.bounds.is_empty() {
                i % (len + 1)
            } else {
                seed.bounds[i % seed.bounds.len()].min(len)
            }
        };
        match m {
            Mutation::CutAtBoundary(i, d) => {
                let at = (bound(*i) as isize + *d as isize).clamp(0, len as isize) as usize;
                b.truncate(at);
            }
            Mutation::Cut(i) => b.truncate(i % (len + 1)),
            Mutation::FlipBit(i, bit) => {
                if len > 0 {
                    b[i % len] ^= 1 << bit;
                }
            }
            Mutation::SetByte(i, v) => {
                if len > 0 {
                    b[i % len] = *v;
                }
            }
            Mutation::SetField(i, k) => {
                if seed.fields.is_empty() {
                    continue;
                }
                let f = seed.fields[i % seed.fields.len()];
                let v = special(*k, f.at, len);
                match f.width {
                    Width::U64 if f.at + 8 <= len => {
                        b[f.at..f.at + 8].copy_from_slice(&v.to_le_bytes())
                    }
                    Width::U32 if f.at + 4 <= len => {
                        b[f.at..f.at + 4].copy_from_slice(&(v as u32).to_le_bytes())
                    }
                    Width::Varint(w) if f.at + w <= len => {
                        b.splice(f.at..f.at + w, encode_varint(v));
                    }
                    _ => {}
                }
            }
            Mutation::Delete(i, n) => {
                let at = bound(*i);
                let end = (at + *n as usize).min(len);
                b.drain(at..end);
            }
            Mutation::Duplicate(i, k) => {
                if seed.bounds.len() < 2 {
                    continue;
                }
                let j = i % seed.bounds.len();
                let a = seed.bounds[j].min(len);
                let e = seed.bounds[(j + 1 + *k as usize).min(seed.bounds.len() - 1)].min(len);
                if a < e && e - a <= 1 << 16 {
                    let copy = b[a..e].to_vec();
                    b.splice(e..e, copy);
                }
            }
            Mutation::Insert(i, bytes) => {
                let at = i % (len + 1);
                b.splice(at..at, bytes.iter().copied());
            }
        }
    }
    b
}

/// A label for a list of mutations: the kind of the first, and how many.
pub fn label(prefix: &str, muts: &[Mutation]) -> String {
    match muts.first() {
        Some(m) if muts.len() == 1 => format!("{prefix}: {}", m.kind()),
        Some(m) => format!("{prefix}: {} (+{} more)", m.kind(), muts.len() - 1),
        None => format!("{prefix}: unchanged"),
    }
}

/// `n` evenly spread indices of `0..len` (all of them when `len <= n`), always including
/// the first and last few.
pub fn spread(len: usize, n: usize) -> Vec<usize> {
    if len <= n {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..n).map(|k| k * (len - 1) / (n - 1).max(1)).collect();
    v.extend(0..8.min(len));
    v.extend(len.saturating_sub(8)..len);
    v.sort_unstable();
    v.dedup();
    v
}

/// Random bytes, and random bytes behind a given prefix (to get past magic checks).
pub fn random_bytes(prefixes: &'static [&'static [u8]]) -> impl Strategy<Value = (usize, Vec<u8>)> {
    (
        0..prefixes.len() + 1,
        proptest::collection::vec(any::<u8>(), 0..1024),
    )
}

pub fn with_prefix(prefixes: &[&[u8]], (k, bytes): &(usize, Vec<u8>)) -> Vec<u8> {
    let mut v = prefixes.get(*k).map(|p| p.to_vec()).unwrap_or_default();
    v.extend_from_slice(bytes);
    v
}

// ---------------------------------------------------------------------------------------
// JSON-level mutations (tokenizer.json, safetensors headers, shard indexes, eval lines)
// ---------------------------------------------------------------------------------------

use serde_json::Value;

/// What to do to the JSON node picked by index (pre-order).
#[derive(Debug, Clone)]
pub enum JsonEdit {
    /// Replace the node with one of [`json_replacements`].
    Replace(usize),
    /// Remove the node from its parent.
    Remove,
    /// Write one of the object's keys twice (the copy with a replacement value).
    DuplicateKey(usize),
    /// Nest the node inside `n` arrays.
    Nest(u16),
}

pub fn json_edit() -> impl Strategy<Value = (usize, JsonEdit)> {
    (
        any::<usize>(),
        prop_oneof![
            6 => any::<usize>().prop_map(JsonEdit::Replace),
            2 => Just(JsonEdit::Remove),
            2 => any::<usize>().prop_map(JsonEdit::DuplicateKey),
            1 => (1u16..200).prop_map(JsonEdit::Nest),
        ],
    )
}

pub fn json_edit_kind(e: &JsonEdit) -> String {
    match e {
        JsonEdit::Replace(k) => format!("value replaced by {}", json_replacement_name(*k)),
        JsonEdit::Remove => "value removed".into(),
        JsonEdit::DuplicateKey(_) => "duplicated key".into(),
        JsonEdit::Nest(_) => "value nested in arrays".into(),
    }
}

const JSON_REPLACEMENTS: &[&str] = &[
    "null",
    "true",
    "-1",
    "0",
    "4294967295",
    "4294967296",
    "1099511627776",
    "18446744073709551615",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "0.5",
    "\"\"",
    "\"x\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "[]",
    "{}",
    "[18446744073709551615,1]",
    "[4294967296,4294967296,4294967296]",
    "[0,1099511627776]",
    "{\"type\":\"BPE\"}",
    "[[]]",
    "\"F64\"",
    "\"Q4_0\"",
    "\"BF16\"",
    "\"I64\"",
];

fn json_replacement_name(k: usize) -> &'static str {
    JSON_REPLACEMENTS[k % JSON_REPLACEMENTS.len()]
}

/// Apply an edit to node `idx % count` and write the JSON text (with the duplicate key
/// written by hand, since a JSON map cannot hold one).
pub fn json_apply(v: &Value, idx: usize, edit: &JsonEdit) -> String {
    let count = json_count(v);
    let target = idx % count.max(1);
    let mut out = String::new();
    let mut n = 0usize;
    write_edited(v, target, edit, &mut n, &mut out, true);
    out
}

fn json_count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(json_count).sum(),
        Value::Object(o) => o.values().map(json_count).sum(),
        _ => 0,
    }
}

fn write_edited(
    v: &Value,
    target: usize,
    edit: &JsonEdit,
    n: &mut usize,
    out: &mut String,
    _root: bool,
) -> bool {
    let me = *n;
    *n += 1;
    if me == target {
        match edit {
            JsonEdit::Replace(k) => {
                out.push_str(json_replacement_name(*k));
                *n += json_count(v) - 1;
                return true;
            }
            JsonEdit::Remove => {
                *n += json_count(v) - 1;
                return false;
            }
            JsonEdit::Nest(depth) => {
                for _ in 0..*depth {
                    out.push('[');
                }
                out.push_str(&v.to_string());
                for _ in 0..*depth {
                    out.push(']');
                }
                *n += json_count(v) - 1;
                return true;
            }
            JsonEdit::DuplicateKey(_) => {}
        }
    }
    match v {
        Value::Array(a) => {
            out.push('[');
            let mut first = true;
            for x in a {
                let mark = out.len();
                if !first {
                    out.push(',');
                }
                if write_edited(x, target, edit, n, out, false) {
                    first = false;
                } else {
                    out.truncate(mark);
                }
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            let mut first = true;
            for (k, x) in o {
                let mark = out.len();
                if !first {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if write_edited(x, target, edit, n, out, false) {
                    first = false;
                } else {
                    out.truncate(mark);
                }
            }
            if me == target {
                if let (JsonEdit::DuplicateKey(r), Some((k, _))) =
                    (edit, o.iter().nth(edit_index(edit) % o.len().max(1)))
                {
                    if !first {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    out.push_str(json_replacement_name(*r));
                }
            }
            out.push('}');
        }
        _ => out.push_str(&v.to_string()),
    }
    true
}

fn edit_index(e: &JsonEdit) -> usize {
    match e {
        JsonEdit::DuplicateKey(k) => k / 7,
        _ => 0,
    }
}

/// Offsets just after each structural character of JSON text: where a truncation leaves
/// a syntactically interesting prefix.
pub fn json_bounds(text: &[u8]) -> Vec<usize> {
    let mut v = vec![0];
    let mut in_str = false;
    let mut esc = false;
    for (i, &c) in text.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
                v.push(i + 1);
            }
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                v.push(i);
                v.push(i + 1);
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                v.push(i);
                v.push(i + 1);
            }
            _ => {}
        }
    }
    v.push(text.len());
    v.sort_unstable();
    v.dedup();
    v
}

/// Offsets of line starts and ends.
pub fn line_bounds(text: &[u8]) -> Vec<usize> {
    let mut v = vec![0];
    for (i, &c) in text.iter().enumerate() {
        if c == b'\n' {
            v.push(i);
            v.push(i + 1);
        }
    }
    v.push(text.len());
    v.dedup();
    v
}

// ---------------------------------------------------------------------------------------
// Line-level mutations (tiktoken, merges, CSV, JSONL)
// ---------------------------------------------------------------------------------------

/// An edit to line `i % lines`.
#[derive(Debug, Clone)]
pub enum LineEdit {
    Drop,
    Duplicate,
    /// Swap with the line `k` further on.
    Swap(usize),
    /// Replace field `f` (split on the separator) with replacement `r`.
    Field(usize, usize),
    /// Replace the whole line with replacement `r`.
    Whole(usize),
    /// Cut the line at a random point.
    CutLine(usize),
    /// Append a separator and a replacement (an extra field).
    Extra(usize),
}

pub fn line_edit() -> impl Strategy<Value = (usize, LineEdit)> {
    (
        any::<usize>(),
        prop_oneof![
            1 => Just(LineEdit::Drop),
            2 => Just(LineEdit::Duplicate),
            1 => any::<usize>().prop_map(LineEdit::Swap),
            5 => (any::<usize>(), any::<usize>()).prop_map(|(f, r)| LineEdit::Field(f, r)),
            2 => any::<usize>().prop_map(LineEdit::Whole),
            1 => any::<usize>().prop_map(LineEdit::CutLine),
            1 => any::<usize>().prop_map(LineEdit::Extra),
        ],
    )
}

pub fn line_edit_kind(e: &LineEdit, repl: &[&str]) -> String {
    let r = |k: usize| repl[k % repl.len()].escape_debug().to_string();
    match e {
        LineEdit::Drop => "line dropped".into(),
        LineEdit::Duplicate => "line duplicated".into(),
        LineEdit::Swap(_) => "lines swapped".into(),
        LineEdit::Field(_, k) => format!("field set to {:.40}", r(*k)),
        LineEdit::Whole(k) => format!("line replaced by {:.40}", r(*k)),
        LineEdit::CutLine(_) => "line cut short".into(),
        LineEdit::Extra(k) => format!("extra field {:.40}", r(*k)),
    }
}

/// Apply line edits. `sep` splits fields; `repl` are the replacement strings; lines
/// keep their original terminators. `skip` lines at the start are never picked (headers
/// are edited only when `skip` is 0).
pub fn lines_apply(text: &[u8], edits: &[(usize, LineEdit)], sep: u8, repl: &[&str]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = text
        .split_inclusive(|&c| c == b'\n')
        .map(|l| l.to_vec())
        .collect();
    for (i, e) in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        let i = i % n;
        let body_end = |l: &Vec<u8>| l.len() - l.ends_with(b"\n") as usize;
        match e {
            LineEdit::Drop => {
                lines.remove(i);
            }
            LineEdit::Duplicate => {
                let l = lines[i].clone();
                let mut l2 = l.clone();
                if !l2.ends_with(b"\n") {
                    l2.push(b'\n');
                }
                lines.insert(i, l2);
                let _ = l;
            }
            LineEdit::Swap(k) => {
                let j = (i + 1 + k % n) % n;
                let (a, b) = (body_end(&lines[i]), body_end(&lines[j]));
                let la = lines[i][..a].to_vec();
                let lb = lines[j][..b].to_vec();
                lines[i].splice(..a, lb);
                lines[j].splice(..b, la);
            }
            LineEdit::Field(f, r) => {
                let end = body_end(&lines[i]);
                let body = lines[i][..end].to_vec();
                let mut fields: Vec<Vec<u8>> =
                    body.split(|&c| c == sep).map(|x| x.to_vec()).collect();
                let f = f % fields.len();
                fields[f] = repl[r % repl.len()].as_bytes().to_vec();
                let joined = fields.join(&[sep][..]);
                lines[i].splice(..end, joined);
            }
            LineEdit::Whole(r) => {
                let end = body_end(&lines[i]);
                lines[i].splice(..end, repl[r % repl.len()].bytes());
            }
            LineEdit::CutLine(k) => {
                let end = body_end(&lines[i]);
                let at = k % (end + 1);
                lines[i].drain(at..end);
            }
            LineEdit::Extra(r) => {
                let end = body_end(&lines[i]);
                let mut add = vec![sep];
                add.extend(repl[r % repl.len()].bytes());
                lines[i].splice(end..end, add);
            }
        }
    }
    lines.concat()
}

/// The first `n` lines of a text (with their terminators).
pub fn head_lines(text: &[u8], n: usize) -> Vec<u8> {
    text.split_inclusive(|&c| c == b'\n')
        .take(n)
        .collect::<Vec<_>>()
        .concat()
}

// ---------------------------------------------------------------------------------------
// What a loaded vocabulary is used for after loading
// ---------------------------------------------------------------------------------------

/// Exercise a loaded vocabulary the way the audit starts to: encode a few texts, decode a
/// few ids, read raw entries. A hostile file must not make these panic either.
pub fn use_vocab(v: &tokenaudit::vocab::Vocab) -> String {
    for t in [
        "Hello world",
        " 12345 «test» ",
        "ça va? 日本語 \u{0} \t\n  x",
        "▁a <s> <|endoftext|>",
    ] {
        let _ = v.encode(t);
    }
    let n = v.len() as u32;
    for id in [0, 1, n / 2, n.saturating_sub(1), n] {
        let _ = v.decode(&[id]);
        let _ = v.raw(id);
    }
    format!("{} ids", v.len())
}

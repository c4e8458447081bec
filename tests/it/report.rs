//! `tokenaudit report`: the HTML report of a real model and of a real tokenizer, rendered
//! in a real headless browser (Debian's `chromium`, installed by tests/report_browser.sh
//! when missing) without console errors; a hostile vocabulary shown as text; the report
//! rebuilt from the CSV files the other commands write; and its size for Llama 3.
//!
//! Screenshots, the DOM after the script ran and the browser logs are kept in
//! target/report-artifacts/ for a person to look at.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tokenaudit::util::escape::spreadsheet;
use tokenaudit::vocab::bytelevel;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn data() -> PathBuf {
    let p = root().join("../shared/data");
    assert!(p.is_dir(), "test data not found at {}", p.display());
    p
}

fn model(name: &str) -> PathBuf {
    data().join("models").join(name)
}

fn artifacts() -> PathBuf {
    let d = root().join("target/report-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .args(args)
        .output()
        .expect("running tokenaudit")
}

fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "tokenaudit {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What the browser made of a page.
struct Rendered {
    dom: String,
    console: Vec<String>,
    png: PathBuf,
}

/// Render in headless chromium; the screenshot, DOM and log go to the artifacts folder.
fn render(html: &Path, name: &str) -> Rendered {
    let prefix = artifacts().join(name);
    let out = Command::new("bash")
        .arg(root().join("tests/report_browser.sh"))
        .arg(html)
        .arg(&prefix)
        .output()
        .expect("running tests/report_browser.sh");
    assert!(
        out.status.success(),
        "tests/report_browser.sh failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(prefix.with_extension("log")).unwrap();
    let dom = std::fs::read_to_string(prefix.with_extension("dom")).unwrap();
    Rendered {
        dom,
        console: log
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(String::from)
            .collect(),
        png: prefix.with_extension("png"),
    }
}

/// No console message at all (errors, CSP violations, uncaught exceptions), the page's
/// script ran to its end, and a real screenshot was taken.
fn assert_renders_cleanly(r: &Rendered) {
    assert!(
        r.console.is_empty(),
        "browser console messages:\n{}",
        r.console.join("\n")
    );
    assert!(
        r.dom.contains("data-report-js=\"ok\""),
        "the page's script did not run to its end"
    );
    let png = std::fs::metadata(&r.png).expect("screenshot written");
    assert!(png.len() > 20_000, "screenshot is only {} bytes", png.len());
}

/// The page without the text of the token spans.
fn without_token_text(html: &str) -> String {
    let open = "<span class=\"tok\">";
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find(open) {
        out.push_str(&rest[..i]);
        let mut depth = 0;
        let mut j = i;
        loop {
            let next_open = rest[j + 1..].find("<span").map(|k| k + j + 1);
            let next_close = rest[j + 1..].find("</span>").map(|k| k + j + 1).unwrap();
            match next_open {
                Some(o) if o < next_close => {
                    depth += 1;
                    j = o;
                }
                _ if depth > 0 => {
                    depth -= 1;
                    j = next_close;
                }
                _ => {
                    j = next_close;
                    break;
                }
            }
        }
        rest = &rest[j + "</span>".len()..];
    }
    out.push_str(rest);
    out
}

/// Rows of the table with this id.
fn table_rows(html: &str, id: &str) -> usize {
    let start = html
        .find(&format!("<table id=\"{id}-table\">"))
        .unwrap_or_else(|| panic!("no table #{id}"));
    let end = start + html[start..].find("</table>").unwrap();
    html[start..end].matches("<tr").count() - 1
}

#[test]
fn real_model_report_renders_in_a_browser() {
    let m = model("tiny-llama2tok");
    let dir = tempfile::tempdir().unwrap();
    // Results of the other commands, to be shown as they are.
    let pause = dir.path().join("pause.csv");
    run_ok(&[
        "pause",
        s(&m),
        "--n",
        "4",
        "--per-source",
        "3",
        "--csv",
        s(&pause),
    ]);
    let digits = dir.path().join("digits.json");
    std::fs::write(&digits, run_ok(&["digits", "-t", s(&m), "--json"])).unwrap();

    let html_path = artifacts().join("tiny-llama2tok.html");
    let counts = m.join("token_counts.csv");
    let stdout = run_ok(&[
        "report",
        s(&m),
        "--counts",
        s(&counts),
        "--verify",
        "24",
        "--pause-csv",
        s(&pause),
        "--digits-json",
        s(&digits),
        "-o",
        s(&html_path),
    ]);
    assert!(stdout.contains("report written to"), "{stdout}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    for id in [
        "tokenizer",
        "indicators",
        "truth",
        "verification",
        "pause",
        "digits",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id} missing"
        );
    }
    // Every indicator has a histogram and an id scatter; 24 tokens were verified, and on
    // this model the lowest candidates are never-seen tokens the model cannot repeat.
    assert!(html.matches("<svg").count() >= 12);
    assert_eq!(table_rows(&html, "verified"), 24);
    assert!(html.contains("strongly_under_trained"));
    assert!(table_rows(&html, "flagged") > 0);
    assert!(html.len() < 3_000_000, "{} bytes", html.len());
    // Nothing is loaded from anywhere (token text aside, which is only text).
    let markup = without_token_text(&html);
    for needle in ["<link", " src=", "href=\"http", "@import", "url("] {
        assert!(
            !markup.contains(needle),
            "the page loads something: {needle}"
        );
    }

    let r = render(&html_path, "tiny-llama2tok");
    assert_renders_cleanly(&r);
    // The filter script ran over each table.
    assert!(r.dom.contains("24 of 24 rows"));
}

#[test]
fn real_tokenizer_report_renders_in_a_browser_and_stays_small() {
    let tok = data().join("tokenizers/llama3/tokenizer.model");
    let html_path = artifacts().join("llama3.html");
    let started = std::time::Instant::now();
    run_ok(&["report", "--tokenizer", s(&tok), "-o", s(&html_path)]);
    eprintln!(
        "llama3 report: {} bytes in {:.2} s (command, incl. loading and auditing 128k ids)",
        std::fs::metadata(&html_path).unwrap().len(),
        started.elapsed().as_secs_f64()
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.len() < 3_000_000, "{} bytes", html.len());
    assert!(html.contains("<section id=\"tokenizer\">"));
    assert!(!html.contains("<section id=\"indicators\">"));
    // All 1352 UNDECODEABLE tokens are listed, partial characters as bytes.
    assert_eq!(table_rows(&html, "flagged"), 1352);
    assert!(
        html.contains("&lt;0xE2&gt;"),
        "partial UTF-8 not shown as bytes"
    );
    assert!(html.contains("128\u{2009}256 ids"));

    let r = render(&html_path, "llama3");
    assert_renders_cleanly(&r);
    assert!(r.dom.contains("1352 of 1352 rows"));
}

/// Token texts meant to break a page: markup, quotes, NUL, the encoding of a lone
/// surrogate (ED A0 80), a partial character, bidi override, zero-width space.
fn hostile() -> Vec<Vec<u8>> {
    [
        &b"<script>alert(1)</script>"[..],
        b"</table></td><b>bold</b>",
        b"\"dq\" 'sq' &amp; &lt;",
        b"nul\x00byte",
        b"\xED\xA0\x80",
        b"x\xE2\x80",
        "rtl\u{202E}override".as_bytes(),
        "zero\u{200B}width".as_bytes(),
        b"<img src=x onerror=alert(2)>",
        b"line\nbreak\ttab\r",
        b"<!-- ]]> -->",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect()
}

/// A byte-level BPE tokenizer.json: the 256 byte symbols, the hostile tokens (with and
/// without a leading space) and some plain words, no merges, so every multi-byte
/// token is unreachable and listed by the report.
fn hostile_tokenizer(dir: &Path) -> (PathBuf, Vec<u32>) {
    let mut vocab = serde_json::Map::new();
    let add = |s: String, vocab: &mut serde_json::Map<String, serde_json::Value>| {
        let id = vocab.len() as u32;
        assert!(vocab.insert(s, id.into()).is_none());
        id
    };
    for b in 0..=255u8 {
        add(bytelevel::bytes_to_string(&[b]), &mut vocab);
    }
    let mut ids = Vec::new();
    for h in hostile() {
        ids.push(add(bytelevel::bytes_to_string(&h), &mut vocab));
        let mut spaced = vec![b' '];
        spaced.extend(&h);
        add(bytelevel::bytes_to_string(&spaced), &mut vocab);
    }
    for i in 0..30 {
        add(format!("Ġword{i}"), &mut vocab);
    }
    let byte_level = serde_json::json!({
        "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true
    });
    let tj = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": byte_level,
        "post_processor": null,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": []
        }
    });
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, serde_json::to_vec(&tj).unwrap()).unwrap();
    (path, ids)
}

#[test]
fn hostile_vocabulary_renders_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let (tok, ids) = hostile_tokenizer(dir.path());
    let n = 256 + 2 * hostile().len() + 30;
    let lossy = |h: &[u8]| spreadsheet(&String::from_utf8_lossy(h));
    // Results of other commands naming the hostile tokens, as those commands write them
    // (text escaped for spreadsheets), plus one id the tokenizer does not have whose
    // text is raw markup: the report must show that as text too.
    let mut scan = csv::Writer::from_writer(Vec::new());
    scan.write_record([
        "id",
        "raw",
        "decoded",
        "category",
        "in_norm",
        "out_cos",
        "out_cos_pc",
        "out_cos_centered",
        "out_l2",
        "percentile_rank",
        "candidate",
    ])
    .unwrap();
    for id in 0..n as u32 {
        let cand = ids.contains(&id);
        let v = if cand {
            0.01 * (id % 7) as f64
        } else {
            1.0 + (id % 13) as f64 * 0.1
        };
        let v = format!("{v:.6e}");
        scan.write_record([
            id.to_string(),
            String::new(),
            String::new(),
            "OK".into(),
            v.clone(),
            v.clone(),
            v.clone(),
            v.clone(),
            v,
            "50".into(),
            cand.to_string(),
        ])
        .unwrap();
    }
    let scan_csv = dir.path().join("scan.csv");
    std::fs::write(&scan_csv, scan.into_inner().unwrap()).unwrap();
    let mut verify = csv::Writer::from_writer(Vec::new());
    verify
        .write_record(["id", "decoded", "input_output", "score", "verdict"])
        .unwrap();
    for (&id, h) in ids.iter().zip(hostile()) {
        verify
            .write_record([
                id.to_string(),
                lossy(&h),
                "1.0e-5".into(),
                "1.0e-5".into(),
                "strongly_under_trained".into(),
            ])
            .unwrap();
    }
    verify
        .write_record(["99999", "<script>evil()</script>", "0.5", "0.5", "trained"])
        .unwrap();
    let verify_csv = dir.path().join("verify.csv");
    std::fs::write(&verify_csv, verify.into_inner().unwrap()).unwrap();
    let mut pause = csv::Writer::from_writer(Vec::new());
    pause
        .write_record(tokenaudit::output::pause::CSV_HEADER)
        .unwrap();
    for (i, (&id, h)) in ids.iter().zip(hostile()).enumerate() {
        pause
            .write_record([
                (i + 1).to_string(),
                id.to_string(),
                lossy(&h),
                "under_trained".into(),
                "true".into(),
                "true".into(),
                "true".into(),
                "true".into(),
                "true".into(),
                format!("{}", 0.1 * (i + 1) as f64),
                "1".into(),
                "0.5".into(),
                (i == 0).to_string(),
            ])
            .unwrap();
    }
    let pause_csv = dir.path().join("pause.csv");
    std::fs::write(&pause_csv, pause.into_inner().unwrap()).unwrap();

    let html_path = artifacts().join("hostile.html");
    run_ok(&[
        "report",
        "--tokenizer",
        s(&tok),
        "--scan-csv",
        s(&scan_csv),
        "--verify-csv",
        s(&verify_csv),
        "--pause-csv",
        s(&pause_csv),
        "--title",
        "<script>alert('title')</script>",
        "-o",
        s(&html_path),
    ]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    let lower = html.to_lowercase();

    // The only script element is the report's own; no token made an element.
    assert_eq!(
        lower.matches("<script").count(),
        1,
        "a token injected a script"
    );
    assert_eq!(lower.matches("</script").count(), 1);
    assert!(!lower.contains("<img"), "a token injected an image");
    assert!(!html.contains("<b>bold"), "a token injected markup");
    assert!(!html.contains("<!-- ]]>"), "a token opened a comment");
    let tables = html.matches("<table").count();
    assert_eq!(
        html.matches("</table>").count(),
        tables,
        "a token closed a table"
    );
    // Invisible and layout-changing characters never reach the page as themselves.
    for c in ['\u{202E}', '\u{200B}', '\0', '\r'] {
        assert!(!html.contains(c), "raw {:?} in the page", c);
    }
    // They are shown, escaped, in every section that lists the tokens.
    for shown in [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&lt;/table&gt;&lt;/td&gt;&lt;b&gt;bold&lt;/b&gt;",
        "&lt;img src=x onerror=alert(2)&gt;",
        "&quot;dq&quot; 'sq' &amp;amp; &amp;lt;",
        "&lt;script&gt;evil()&lt;/script&gt;",
    ] {
        assert!(html.contains(shown), "{shown} not shown as text");
    }
    for esc in ["\\u{202e}", "\\u{200b}", "\\u{0}", "\\n", "\\t", "\\r"] {
        let marked = format!("<span class=\"esc\">{esc}</span>");
        assert!(
            html.matches(&marked).count() >= 3,
            "{esc} not shown in every table"
        );
    }
    let surrogate = "<span class=\"esc\">&lt;0xED&gt;</span><span class=\"esc\">&lt;0xA0&gt;</span><span class=\"esc\">&lt;0x80&gt;</span>";
    assert!(
        html.matches(surrogate).count() >= 3,
        "ED A0 80 not shown as bytes"
    );
    assert!(html.contains(
        "x<span class=\"esc\">&lt;0xE2&gt;</span><span class=\"esc\">&lt;0x80&gt;</span>"
    ));
    assert!(html.contains("<title>&lt;script&gt;alert('title')&lt;/script&gt;</title>"));

    // The browser agrees: one script element in the DOM, no injected element, and the
    // text nodes hold the escaped forms.
    let r = render(&html_path, "hostile");
    assert_renders_cleanly(&r);
    let dom = r.dom.to_lowercase();
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "the DOM has an injected script"
    );
    assert!(!dom.contains("<img") && !dom.contains("<b>bold"));
    assert!(r.dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(r.dom.contains("\\u{202e}") && r.dom.contains("\\u{200b}"));
    assert!(r.dom.contains("&lt;0xED&gt;"));
    assert!(!r.dom.contains('\u{202E}') && !r.dom.contains('\u{200B}'));
}

#[test]
fn report_reads_back_the_other_commands_csv_files() {
    let m = model("tiny-llama2tok");
    let dir = tempfile::tempdir().unwrap();
    let scan_csv = dir.path().join("scan.csv");
    let json = run_ok(&["scan", s(&m), "--csv", s(&scan_csv), "--json"]);
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    let candidates = j["candidates"].as_u64().unwrap();
    let glitch_csv = dir.path().join("glitch.csv");
    run_ok(&[
        "glitch",
        s(&m),
        "--csv",
        s(&glitch_csv),
        "--percentile",
        "0.03",
    ]);
    let mut rdr = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_path(&glitch_csv)
        .unwrap();
    let verdict = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "verdict")
        .unwrap();
    let verified = rdr
        .records()
        .filter(|r| !r.as_ref().unwrap()[verdict].is_empty())
        .count();
    assert!(verified > 0);

    // From the scan CSV: the main indicator is recognised from the candidates.
    let out = dir.path().join("from-scan.html");
    let stdout = run_ok(&[
        "report",
        "-t",
        s(&m),
        "--scan-csv",
        s(&scan_csv),
        "-o",
        s(&out),
    ]);
    assert!(stdout.contains("indicators"), "{stdout}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("in_norm (inferred"),
        "main indicator not inferred"
    );
    assert!(html.contains(&format!(
        ">{candidates} OK tokens at or below the threshold"
    )));
    assert!(!html.contains("<section id=\"verification\">"));

    // From the glitch CSV: the verification columns become the verification section.
    let out = dir.path().join("from-glitch.html");
    run_ok(&[
        "report",
        "-t",
        s(&m),
        "--scan-csv",
        s(&glitch_csv),
        "-o",
        s(&out),
    ]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("<section id=\"verification\">"));
    assert_eq!(table_rows(&html, "verified"), verified);

    // A verify log written by `report --verify` is read back the same.
    let log = dir.path().join("verify.csv");
    let a = dir.path().join("a.html");
    run_ok(&[
        "report",
        s(&m),
        "--verify",
        "5",
        "--verify-csv",
        s(&log),
        "-o",
        s(&a),
    ]);
    let b = dir.path().join("b.html");
    run_ok(&["report", "-t", s(&m), "--verify-csv", s(&log), "-o", s(&b)]);
    let (a, b) = (
        std::fs::read_to_string(a).unwrap(),
        std::fs::read_to_string(b).unwrap(),
    );
    assert_eq!(table_rows(&a, "verified"), 5);
    assert_eq!(table_rows(&b, "verified"), 5);
}

#[test]
fn bad_report_inputs_fail_with_one_clear_line() {
    let m = model("tiny-llama2tok");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.html");
    let o = s(&out);
    let (counts, truth, config) = (
        m.join("token_counts.csv"),
        m.join("verification.csv"),
        m.join("config.json"),
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["report", "-o", o],
            "give a MODEL directory or --tokenizer",
        ),
        (
            vec!["report", "-t", s(&m), "--verify", "3", "-o", o],
            "--verify needs a MODEL",
        ),
        (
            vec!["report", "-t", s(&m), "--scan-csv", s(&counts), "-o", o],
            "not a scan CSV",
        ),
        (
            vec!["report", "-t", s(&m), "--verify-csv", s(&truth), "-o", o],
            "not a verify CSV",
        ),
        (
            vec!["report", "-t", s(&m), "--digits-json", s(&config), "-o", o],
            "not a `digits --json` output",
        ),
    ];
    for (args, want) in cases {
        let r = run(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} left a file");
    }
}

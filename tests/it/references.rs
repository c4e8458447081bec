//! Reference rows that never fail (docs/methods.md §4): the fallback, used as if the
//! tokenizer named no reference rows, loses at most 0.01 of the AUC of the automatic
//! reference on the models with ground truth; SmolLM2 (Q4_1 GGUF, q8_0 token_embd), whose
//! byte-level vocabulary has no reference rows, scans with no flag and says it used the
//! near-duplicate fallback; a model with no duplicates gets the reference-free pass.

use crate::common;

use std::path::{Path, PathBuf};

use tokenaudit::indicators::Indicator;
use tokenaudit::output;
use tokenaudit::scan::{self, ReferenceKind, ReferenceRule, ScanReport, ScanSettings};

fn model(name: &str) -> PathBuf {
    common::data().join("models").join(name)
}

fn scan_with(dir: &Path, rule: ReferenceRule, counts: bool) -> ScanReport {
    let mut s = ScanSettings::new(dir.to_path_buf());
    s.reference = rule;
    if counts {
        s.counts = Some(dir.join("token_counts.csv"));
    }
    scan::run(&s).unwrap_or_else(|e| panic!("scan {}: {e:#}", dir.display()))
}

fn auc(r: &ScanReport, k: Indicator) -> f64 {
    let e = r.evaluation.as_ref().unwrap();
    e.auc.iter().find(|(n, _)| *n == k.name()).unwrap().1
}

/// AUCs (main indicator, out_cos_pc) with the automatic reference, the fallback and the
/// reference-free pass, against the figures of docs/figures.md.
fn check(name: &str, expect: [[f64; 2]; 3], kinds: [ReferenceKind; 3]) {
    let dir = model(name);
    let rules = [
        ReferenceRule::Auto,
        ReferenceRule::Fallback,
        ReferenceRule::FirstPass,
    ];
    let mut got = Vec::new();
    for ((rule, want), kind) in rules.iter().zip(expect).zip(kinds) {
        let r = scan_with(&dir, *rule, true);
        assert_eq!(r.reference_kind, kind, "{name} {}", rule.name());
        assert!(!r.indicators.reference_ids.is_empty());
        let a = [auc(&r, r.main), auc(&r, Indicator::OutCosPc)];
        for (g, w) in a.iter().zip(want) {
            assert!(
                (g - w).abs() < 5e-4,
                "{name} {}: AUC {a:?}, expected {want:?}",
                rule.name()
            );
        }
        got.push(a);
    }
    // The loss the issue allows: at most 0.01 of the given (automatic) reference's AUC.
    for fb in &got[1..] {
        for k in 0..2 {
            assert!(got[0][k] - fb[k] <= 0.01, "{name}: {got:?}");
        }
    }
}

#[test]
fn fallback_loses_at_most_a_hundredth_of_auc_on_tied_gpt2tok() {
    check(
        "tiny-gpt2tok",
        [[0.9943, 0.9943], [0.9943, 0.9943], [0.9944, 0.9944]],
        [
            ReferenceKind::Auto,
            ReferenceKind::NearDuplicates,
            ReferenceKind::FirstPass,
        ],
    );
}

#[test]
fn fallback_loses_at_most_a_hundredth_of_auc_on_untied_llama2tok() {
    check(
        "tiny-llama2tok",
        [[0.9966, 1.0], [0.9966, 1.0], [0.9966, 1.0]],
        [
            ReferenceKind::Auto,
            ReferenceKind::NearDuplicates,
            ReferenceKind::FirstPass,
        ],
    );
}

#[test]
fn smollm2_scans_with_no_flag_and_names_the_fallback() {
    let gguf = model("smollm2-135m-instruct").join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let r = scan::run(&ScanSettings::new(gguf)).expect("SmolLM2 scans without --reference-ids");
    assert!(r.tied);
    assert_eq!(r.reference_kind, ReferenceKind::NearDuplicates);
    // The never-trained code specials <file_sep>, <gh_stars> … <empty_output> (ids 5,
    // 7..=16) are one cluster, with rare pieces such as "ManagementPlaneProtection".
    assert_eq!(r.reference_clusters.len(), 1, "{:?}", r.reference_clusters);
    let c = &r.reference_clusters[0];
    assert_eq!(c.len(), 17, "{c:?}");
    for id in [5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 36744] {
        assert!(c.contains(&id), "{id} not in {c:?}");
    }
    // The trained chat specials are not.
    for id in [0, 1, 2] {
        assert!(!c.contains(&id));
    }
    let j = output::scan::to_json(&r);
    assert_eq!(j["reference_kind"], "near_duplicates");
    assert_eq!(j["reference_fallback"], true);
    assert_eq!(j["reference_ids"], 17);
    assert_eq!(j["reference_clusters"], serde_json::json!([17]));
    let src = j["reference_source"].as_str().unwrap();
    assert!(
        src.contains("no unreachable, reserved, unused, control or padding rows")
            && src.contains("17 near-duplicate rows (cosine >= 0.999)"),
        "{src}"
    );
    let mut text = Vec::new();
    output::scan::write_summary(&r, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("reference    17 rows (fallback, no unreachable"),
        "{text}"
    );
    assert!(text.contains("cluster 1: 17 rows: 5 7 8 9"), "{text}");
}

#[test]
fn no_reference_and_no_duplicates_gets_the_reference_free_pass() {
    // stories260K's 93 OK tokens hold no near-duplicate cluster: the fallback ends in the
    // reference-free pass, never in an error.
    let r = scan_with(&model("stories260K"), ReferenceRule::Fallback, false);
    assert_eq!(r.reference_kind, ReferenceKind::FirstPass);
    assert!(r.reference_clusters.is_empty());
    assert_eq!(r.indicators.reference_ids.len(), 1); // ceil(0.5% of 93)
    assert!(
        r.reference_source.contains("no near-duplicate clusters")
            && r.reference_source.contains("reference-free pass"),
        "{}",
        r.reference_source
    );
    let j = output::scan::to_json(&r);
    assert_eq!(j["reference_kind"], "first_pass");
    assert!(r.threshold.is_finite());
    assert!(!r.candidates.is_empty());
}

#[test]
fn automatic_reference_is_unchanged_where_the_tokenizer_names_rows() {
    let r = scan_with(&model("tiny-gpt2tok"), ReferenceRule::Auto, false);
    assert_eq!(r.reference_kind, ReferenceKind::Auto);
    assert_eq!(
        r.reference_source,
        "auto: 0 unreachable, 13 invalid-UTF-8 bytes, 0 unused pieces, 0 reserved specials, \
         0 rows without a token"
    );
    let j = output::scan::to_json(&r);
    assert_eq!(j["reference_ids"], 13);
    assert_eq!(j["reference_kind"], "auto");
    assert_eq!(j["reference_fallback"], false);
}

//! The long digit-scheme CSV: one row per metric (section, source, kind, tokenizer,
//! scheme, metric, key, value).

use std::path::Path;

use anyhow::Result;

use super::super::write_atomic;
use crate::digits::run::DigitsReport;
use crate::util::escape::spreadsheet;

/// Columns of the long CSV, documented in docs/digits.md.
pub const CSV_HEADER: [&str; 8] = [
    "section",
    "source",
    "kind",
    "tokenizer",
    "scheme",
    "metric",
    "key",
    "value",
];

/// A CSV number cell: full precision, empty when undefined.
fn csv_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// Every metric as one CSV row: section, source, kind, tokenizer, scheme, metric, key, value.
pub fn write_csv(r: &DigitsReport, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        let mut c = csv::Writer::from_writer(w);
        c.write_record(CSV_HEADER)?;
        let mut row = |section: &str,
                       source: &str,
                       kind: &str,
                       tok: &str,
                       scheme: &str,
                       metric: &str,
                       key: &str,
                       value: String|
         -> Result<()> {
            c.write_record([
                section,
                &spreadsheet(source),
                kind,
                &spreadsheet(tok),
                scheme,
                metric,
                &spreadsheet(key),
                &spreadsheet(&value),
            ])?;
            Ok(())
        };
        for t in &r.tokenizers {
            let cv = &t.coverage;
            for i in 0..3 {
                let d = (i + 1).to_string();
                row(
                    "coverage",
                    "",
                    "",
                    &t.name,
                    "",
                    "single_token",
                    &d,
                    cv.single[i].to_string(),
                )?;
                row(
                    "coverage",
                    "",
                    "",
                    &t.name,
                    "",
                    "strings",
                    &d,
                    cv.total[i].to_string(),
                )?;
                for (k, v) in &cv.fallback[i] {
                    row(
                        "coverage",
                        "",
                        "",
                        &t.name,
                        "",
                        &format!("strings_of_{d}_digits_by_token_count"),
                        &k.to_string(),
                        v.to_string(),
                    )?;
                }
            }
            for (s, p) in &t.placements {
                row(
                    "coverage",
                    "",
                    "",
                    &t.name,
                    s.key(),
                    "digit_stage",
                    "",
                    p.describe().into(),
                )?;
                if let Some(e) = cv.expresses(*s) {
                    row(
                        "coverage",
                        "",
                        "",
                        &t.name,
                        s.key(),
                        "expresses",
                        "",
                        e.to_string(),
                    )?;
                }
            }
        }
        for t in &r.text {
            let src = &r.corpora[t.corpus];
            let (kind, tok, sch) = (
                src.kind.name(),
                &r.tokenizers[t.tokenizer].name,
                t.scheme.key(),
            );
            let s = &t.stats;
            let metrics: [(&str, String); 15] = [
                ("docs", s.docs.to_string()),
                ("bytes", s.bytes.to_string()),
                ("words", s.words.to_string()),
                ("tokens", s.tokens.to_string()),
                ("numbers", s.numbers.to_string()),
                ("number_tokens", s.number_tokens.to_string()),
                ("digits", s.digits.to_string()),
                ("tokens_per_number", csv_num(s.tokens_per_number())),
                ("digits_per_token", csv_num(s.digits_per_token())),
                ("bytes_per_token", csv_num(s.bytes_per_token())),
                ("tokens_per_word", csv_num(s.tokens_per_word())),
                ("tokens_per_doc", csv_num(s.tokens_per_doc())),
                ("groups", s.groups.to_string()),
                ("split_groups", s.split_groups.to_string()),
                ("split_group_rate", csv_num(s.split_group_rate())),
            ];
            for (m, v) in metrics {
                row("text", &src.name, kind, tok, sch, m, "", v)?;
            }
            for (k, v) in &s.shapes {
                row("text", &src.name, kind, tok, sch, "shape", k, v.to_string())?;
            }
        }
        for a in &r.arith {
            let src = &r.corpora[a.corpus];
            let (kind, tok, sch) = (
                a.kind.key(),
                &r.tokenizers[a.tokenizer].name,
                a.scheme.key(),
            );
            let s = &a.stats;
            let metrics: [(&str, String); 15] = [
                ("records", s.records.to_string()),
                ("integer_records", s.integer_records.to_string()),
                ("answer_longer", s.answer_longer.to_string()),
                ("answer_longer_rate", csv_num(s.answer_longer_rate())),
                ("aligned", s.aligned.to_string()),
                ("aligned_rate", csv_num(s.aligned_rate())),
                ("aligned_when_longer", s.aligned_when_longer.to_string()),
                (
                    "aligned_when_longer_rate",
                    csv_num(s.aligned_when_longer_rate()),
                ),
                (
                    "aligned_when_not_longer_rate",
                    csv_num(s.aligned_when_not_longer_rate()),
                ),
                ("answers", s.answers.to_string()),
                ("answer_tokens", s.answer_tokens.to_string()),
                ("tokens_per_answer", csv_num(s.tokens_per_answer())),
                ("operands", s.operands.to_string()),
                ("operand_tokens", s.operand_tokens.to_string()),
                ("tokens_per_operand", csv_num(s.tokens_per_operand())),
            ];
            for (m, v) in metrics {
                row("arith", &src.name, kind, tok, sch, m, "", v)?;
            }
            for (k, v) in &s.answer_shapes {
                row(
                    "arith",
                    &src.name,
                    kind,
                    tok,
                    sch,
                    "answer_shape",
                    k,
                    v.to_string(),
                )?;
            }
        }
        for p in &r.probe {
            let src = format!("{} vs {}", p.pair.0, p.pair.1);
            let (tok, sch) = (&r.tokenizers[p.tokenizer].name, p.scheme.key());
            row(
                "probe",
                &src,
                "",
                tok,
                sch,
                "left_cut",
                "",
                p.cut.left.display(),
            )?;
            row(
                "probe",
                &src,
                "",
                tok,
                sch,
                "right_cut",
                "",
                p.cut.right.display(),
            )?;
            row(
                "probe",
                &src,
                "",
                tok,
                sch,
                "fraction_aligned",
                "",
                p.cut.fraction_aligned.to_string(),
            )?;
        }
        c.flush()?;
        Ok(())
    })
}

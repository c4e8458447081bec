//! Evaluation problems: GSM8K (`{"question", "answer"}` with `#### N`) and the GPT-3
//! arithmetic files (`{"context", "completion"}`), and answer extraction that copes with
//! thousands separators, currency signs and units.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The data set's format, which decides the prompt, the stop texts and how the gold
/// answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Gsm8k,
    Arith,
}

impl std::str::FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "gsm8k" => Ok(Task::Gsm8k),
            "arith" | "arithmetic" => Ok(Task::Arith),
            _ => Err(format!("unknown task '{s}' (expected gsm8k or arith)")),
        }
    }
}

/// One problem as the model is asked it, with its gold answer.
#[derive(Debug, Clone)]
pub struct Problem {
    pub index: usize,
    pub prompt: String,
    /// The gold answer as a number; `None` when the file's answer cannot be parsed
    /// (counted and reported, not fatal).
    pub gold: Option<f64>,
    pub gold_text: String,
}

/// Read up to `n` problems (every one when `n` is 0).
pub fn read(path: &Path, task: Task, n: usize) -> Result<Vec<Problem>> {
    let text = crate::util::text::read_text(path)?;
    if text.trim().is_empty() {
        bail!("{}: the file is empty", path.display());
    }
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}: line {}: not JSON", path.display(), i + 1))?;
        let field = |k: &str| v.get(k).and_then(|x| x.as_str());
        let (prompt, gold_text) = match task {
            Task::Gsm8k => {
                let (Some(q), Some(a)) = (field("question"), field("answer")) else {
                    bail!(
                        "{}: line {}: expected GSM8K fields \"question\" and \"answer\"",
                        path.display(),
                        i + 1
                    );
                };
                let gold = a.rsplit("####").next().unwrap_or("").trim().to_string();
                (format!("Question: {q}\nAnswer:"), gold)
            }
            Task::Arith => {
                let (Some(c), Some(a)) = (field("context"), field("completion")) else {
                    bail!(
                        "{}: line {}: expected GPT-3 arithmetic fields \"context\" and \
                         \"completion\"",
                        path.display(),
                        i + 1
                    );
                };
                (c.to_string(), a.trim().to_string())
            }
        };
        out.push(Problem {
            index: out.len(),
            gold: parse_number(&gold_text),
            gold_text,
            prompt,
        });
        if n > 0 && out.len() == n {
            break;
        }
    }
    Ok(out)
}

/// A number written the way people write them: `1,000`, `$18`, `-3.50`, `7 dollars`.
pub fn parse_number(s: &str) -> Option<f64> {
    let t: String = s
        .trim()
        .trim_start_matches(['$', '€', '£'])
        .chars()
        .filter(|&c| c != ',' && c != '$')
        .collect();
    let num: String = t
        .chars()
        .enumerate()
        .take_while(|&(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && c == '-'))
        .map(|(_, c)| c)
        .collect();
    let num = num.trim_end_matches('.');
    num.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// All numbers in generated text, in order (commas inside digits kept as separators).
pub fn numbers(text: &str) -> Vec<f64> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let neg = b[i] == b'-' && i + 1 < b.len() && b[i + 1].is_ascii_digit();
        if b[i].is_ascii_digit() || neg {
            let start = i;
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_digit()
                    || ((b[i] == b',' || b[i] == b'.')
                        && i + 1 < b.len()
                        && b[i + 1].is_ascii_digit()))
            {
                i += 1;
            }
            if let Some(x) = parse_number(&text[start..i]) {
                out.push(x);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The model's answer: for GSM8K the number after `####` if it wrote one, else the last
/// number; for arithmetic the first number of the completion.
pub fn extract(task: Task, generated: &str) -> Option<f64> {
    match task {
        Task::Gsm8k => match generated.rsplit_once("####") {
            Some((_, tail)) => numbers(tail).first().copied(),
            None => numbers(generated).last().copied(),
        },
        Task::Arith => numbers(generated).first().copied(),
    }
}

/// Wilson score interval for k successes in n trials at 95%.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let z = 1.959_963_984_540_054_f64;
    let (all, none) = (k == n, k == 0);
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let d = 1.0 + z * z / n;
    let c = (p + z * z / (2.0 * n)) / d;
    let h = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / d;
    // At 0 and n successes the bounds are exactly 0 and 1 (rounding would leave 1e-17).
    let lo = if none { 0.0 } else { (c - h).max(0.0) };
    let hi = if all { 1.0 } else { (c + h).min(1.0) };
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_with_commas_units_and_signs() {
        assert_eq!(parse_number("1,000"), Some(1000.0));
        assert_eq!(parse_number("$18"), Some(18.0));
        assert_eq!(parse_number("-12"), Some(-12.0));
        assert_eq!(parse_number("7 dollars"), Some(7.0));
        assert_eq!(parse_number("3.50."), Some(3.5));
        assert_eq!(parse_number("abc"), None);
        assert_eq!(
            numbers("She pays $1,250.50 for 3 items, then -4."),
            vec![1250.5, 3.0, -4.0]
        );
        assert_eq!(
            extract(Task::Gsm8k, "9 eggs, so 9 * 2 = 18\n#### 18"),
            Some(18.0)
        );
        assert_eq!(
            extract(Task::Gsm8k, "The answer is 1,000 dollars."),
            Some(1000.0)
        );
        assert_eq!(
            extract(Task::Arith, " 143\n\nQ: What is 1 plus 2"),
            Some(143.0)
        );
    }

    #[test]
    fn wilson_interval() {
        let (lo, hi) = wilson(50, 100);
        assert!((lo - 0.4038).abs() < 1e-3 && (hi - 0.5962).abs() < 1e-3);
        let (lo, hi) = wilson(0, 20);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.1611).abs() < 1e-3);
    }
}

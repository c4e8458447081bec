//! The `tojson` filter as transformers defines it for chat templates:
//! `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
//! sort_keys=sort_keys)`. Python's defaults differ from minijinja's own `tojson` (", " and
//! ": " separators, no HTML escaping, non-ASCII kept), and templates put the result in
//! the prompt, so it is written here byte for byte as Python writes it.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, ErrorKind, Value};

pub fn tojson(v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<Value> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    let separators: Option<Value> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    let indent = match indent {
        None => None,
        Some(i) if i.is_none() => None,
        Some(i) => match i.as_i64() {
            Some(n) if n >= 0 => Some(" ".repeat(n as usize)),
            _ => match i.as_str() {
                Some(s) => Some(s.to_string()),
                None => return Err(bad(format!("tojson indent {i} is not a number or string"))),
            },
        },
    };
    let (item, key) = match separators {
        Some(s) if !s.is_none() => {
            let a: Vec<Value> = s.try_iter()?.collect();
            match (
                a.first().and_then(|x| x.as_str()),
                a.get(1).and_then(|x| x.as_str()),
            ) {
                (Some(i), Some(k)) if a.len() == 2 => (i.to_string(), k.to_string()),
                _ => return Err(bad("tojson separators must be two strings".into())),
            }
        }
        // Python: (", ", ": ") without indent, (",", ": ") with one.
        _ => (
            if indent.is_some() { "," } else { ", " }.to_string(),
            ": ".to_string(),
        ),
    };
    let opts = Opts {
        indent,
        item,
        key,
        sort_keys: sort_keys.unwrap_or(false),
        ascii: ensure_ascii.unwrap_or(false),
    };
    let mut out = String::new();
    write(&mut out, &v, &opts, 0)?;
    Ok(Value::from(out))
}

struct Opts {
    indent: Option<String>,
    item: String,
    key: String,
    sort_keys: bool,
    ascii: bool,
}

fn bad(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

fn newline(out: &mut String, o: &Opts, depth: usize) {
    if let Some(ind) = &o.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn write(out: &mut String, v: &Value, o: &Opts, depth: usize) -> Result<(), Error> {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if let Some(i) = v.as_i64().filter(|_| v.is_integer()) {
                out.push_str(&i.to_string());
            } else {
                let f = f64::try_from(v.clone())
                    .map_err(|_| bad(format!("tojson: {v} is not a number JSON can hold")))?;
                out.push_str(&py_float(f)?);
            }
        }
        ValueKind::String => string(out, v.as_str().unwrap_or_default(), o.ascii),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item);
                }
                newline(out, o, depth + 1);
                write(out, x, o, depth + 1)?;
            }
            newline(out, o, depth);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter()?.collect();
            if o.sort_keys {
                keys.sort();
            }
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item);
                }
                newline(out, o, depth + 1);
                match k.as_str() {
                    Some(s) => string(out, s, o.ascii),
                    // Python writes non-string keys as strings.
                    None => string(out, &k.to_string(), o.ascii),
                }
                out.push_str(&o.key);
                write(out, &v.get_item(k)?, o, depth + 1)?;
            }
            newline(out, o, depth);
            out.push('}');
        }
        other => {
            return Err(bad(format!(
                "tojson: a {other} value is not JSON (Python's json.dumps would raise)"
            )))
        }
    }
    Ok(())
}

/// Python's `repr(float)`: the shortest round-trip digits, `1.0` for whole numbers,
/// exponent form below 1e-4 and from 1e16 (`1e-05`, `1e+16`).
fn py_float(f: f64) -> Result<String, Error> {
    if !f.is_finite() {
        return Ok(if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        });
    }
    let a = f.abs();
    if f == 0.0 || (1e-4..1e16).contains(&a) {
        let s = format!("{f}");
        return Ok(if s.contains('.') { s } else { format!("{s}.0") });
    }
    // Rust's `{:e}` gives the shortest digits as "1.5e-7"; Python pads the exponent to
    // two digits and signs it.
    let s = format!("{f:e}");
    let (m, e) = s.split_once('e').expect("exponent form");
    let e: i32 = e.parse().expect("exponent");
    Ok(format!(
        "{m}e{}{:02}",
        if e < 0 { '-' } else { '+' },
        e.abs()
    ))
}

/// A JSON string as Python's encoder writes it.
fn string(out: &mut String, s: &str, ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_python_writes_them() {
        for (f, want) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1e+16"),
            (123456.789, "123456.789"),
            (0.0001, "0.0001"),
            (-2.0, "-2.0"),
        ] {
            assert_eq!(py_float(f).unwrap(), want, "{f}");
        }
    }

    #[test]
    fn strings_as_python_writes_them() {
        let mut s = String::new();
        string(&mut s, "a\"b\\c\nd\u{1}é", false);
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
        let mut s = String::new();
        string(&mut s, "é😀", true);
        assert_eq!(s, "\"\\u00e9\\ud83d\\ude00\"");
    }
}

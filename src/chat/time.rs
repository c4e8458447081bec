//! `strftime_now(format)`, which transformers gives templates (Llama 3.1+ put today's
//! date in the system prompt): the current UTC time through the C-standard directives
//! these templates use; any other directive is an error naming it rather than a date in
//! another format.

use minijinja::{Error, ErrorKind};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

pub fn strftime_now(format: String) -> Result<String, Error> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    strftime(&format, secs)
}

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub(crate) fn strftime(format: &str, secs: i64) -> Result<String, Error> {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    // 1970-01-01 was a Thursday (index 3 from Monday).
    let wd = (days + 3).rem_euclid(7) as usize;
    let (hh, mm, ss) = (sod / 3600, sod / 60 % 60, sod % 60);
    let mut out = String::new();
    let mut it = format.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = it.next().unwrap_or('%');
        // glibc's "%-d": no padding.
        let unpadded = spec == '-';
        if unpadded {
            spec = it.next().unwrap_or('-');
        }
        let num = |n: i64, w: usize| {
            if unpadded {
                n.to_string()
            } else {
                format!("{n:0w$}")
            }
        };
        let s = match spec {
            'Y' => y.to_string(),
            'y' => num(y.rem_euclid(100), 2),
            'm' => num(m as i64, 2),
            'd' => num(d as i64, 2),
            'e' => format!("{d:>2}"),
            'B' => MONTHS[m as usize - 1].to_string(),
            'b' | 'h' => MONTHS[m as usize - 1][..3].to_string(),
            'A' => DAYS[wd].to_string(),
            'a' => DAYS[wd][..3].to_string(),
            'H' => num(hh, 2),
            'M' => num(mm, 2),
            'S' => num(ss, 2),
            'j' => num(civil_day_of_year(y, m, d) as i64, 3),
            '%' => "%".to_string(),
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("strftime_now: the directive %{other} is not implemented"),
                ))
            }
        };
        out.push_str(&s);
    }
    Ok(out)
}

fn civil_day_of_year(y: i64, m: u32, d: u32) -> u32 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let before = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334][m as usize - 1];
    before + d + u32::from(leap && m > 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // 2024-07-23 12:34:56 UTC (a Tuesday).
        let t = 1_721_738_096;
        assert_eq!(strftime("%d %b %Y", t).unwrap(), "23 Jul 2024");
        assert_eq!(
            strftime("%Y-%m-%d %H:%M:%S", t).unwrap(),
            "2024-07-23 12:34:56"
        );
        assert_eq!(
            strftime("%A %-d %B, %j", t).unwrap(),
            "Tuesday 23 July, 205"
        );
        assert_eq!(strftime("%d %B %Y", 0).unwrap(), "01 January 1970");
        assert!(strftime("%Z", t).is_err());
    }
}

//! The manifest's one syntax each for durations, sizes and rates (docs/manifest.md).
//!
//! Durations: an integer and a unit, `250ms`, `1s`, `5m`, `1h` (units `ms`, `s`, `m`, `h`).
//! Sizes: an integer and a unit, `512B`, `64KiB`, `1MiB`, `1GiB`, `10KB`, `1MB`, `1GB`.
//! Rates: `<count>/<unit>` with unit `second`, `minute`, `hour`, `day` (or `s`, `m`, `h`, `d`).
//! No fractions, no spaces, no bare numbers: one obvious spelling, so a reviewer never
//! has to wonder whether `30` meant seconds or milliseconds.

use std::time::Duration;

pub fn duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = split_number(text)?;
    let millis = match unit {
        "ms" => Some(number),
        "s" => number.checked_mul(1_000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        _ => {
            return Err(format!(
                "`{text}` is not a duration: use a whole number and one of ms, s, m, h (e.g. `500ms`, `30s`)"
            ));
        }
    };
    millis
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too long a duration"))
}

pub fn size(text: &str) -> Result<u64, String> {
    let (number, unit) = split_number(text)?;
    let factor: u64 = match unit {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => {
            return Err(format!(
                "`{text}` is not a size: use a whole number and one of B, KiB, MiB, GiB, KB, MB, GB (e.g. `1MiB`)"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large a size"))
}

/// A rate as (count, period).
pub fn rate(text: &str) -> Result<(u64, Duration), String> {
    let bad = || {
        format!(
            "`{text}` is not a rate: use `<count>/<unit>` with unit second, minute, hour or day (e.g. `100/minute`)"
        )
    };
    let (count, unit) = text.split_once('/').ok_or_else(bad)?;
    let count: u64 = count.parse().map_err(|_| bad())?;
    let period = match unit {
        "s" | "second" => 1,
        "m" | "minute" => 60,
        "h" | "hour" => 3_600,
        "d" | "day" => 86_400,
        _ => return Err(bad()),
    };
    if count == 0 {
        return Err(format!("`{text}`: a rate must allow at least 1 request"));
    }
    Ok((count, Duration::from_secs(period)))
}

fn split_number(text: &str) -> Result<(u64, &str), String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("`{text}` must start with a whole number"));
    }
    let number = text[..digits]
        .parse()
        .map_err(|_| format!("`{text}`: the number is too large"))?;
    Ok((number, &text[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("2h"), Ok(Duration::from_secs(7200)));
        for bad in [
            "1",
            "1.5s",
            "s",
            "1 s",
            "-1s",
            "1sec",
            "",
            "99999999999999999999s",
        ] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(size("1MiB"), Ok(1_048_576));
        assert_eq!(size("10KB"), Ok(10_000));
        assert_eq!(size("512B"), Ok(512));
        for bad in ["1", "1mb", "1.5MiB", "MiB", "18446744073709551615GiB"] {
            assert!(size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(rate("100/minute"), Ok((100, Duration::from_secs(60))));
        assert_eq!(rate("5/s"), Ok((5, Duration::from_secs(1))));
        for bad in ["100", "0/s", "1/week", "x/s", "/s"] {
            assert!(rate(bad).is_err(), "{bad}");
        }
    }
}

//! Durations as people write them: `1ms`, `1.5s`, `10m`, `100h`, the form that command lines,
//! `OPEN_EVENT_*` variables and config files accept ([`parse_duration`]), used in every range
//! and error message instead of `Debug`'s `0ns ..= 600s` or `359996400s` ([`format_duration`]).

use std::time::Duration;

/// Formats `d` in the largest unit that keeps it short: whole hours, minutes or seconds when
/// it is a multiple of one, else seconds with up to three decimals, else milliseconds (or
/// microseconds and nanoseconds below a millisecond). Zero is `0s`.
///
/// ```
/// use std::time::Duration;
/// use open_event_core::duration_text::format_duration;
///
/// assert_eq!(format_duration(Duration::ZERO), "0s");
/// assert_eq!(format_duration(Duration::from_millis(1)), "1ms");
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
/// assert_eq!(format_duration(Duration::from_secs(600)), "10m");
/// assert_eq!(format_duration(Duration::from_secs(90)), "90s");
/// assert_eq!(format_duration(Duration::from_secs(359_996_400)), "99999h");
/// ```
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    const MS: u128 = 1_000_000;
    const S: u128 = 1_000 * MS;
    const M: u128 = 60 * S;
    const H: u128 = 60 * M;
    if nanos == 0 {
        return "0s".to_owned();
    }
    for (unit, name) in [(H, "h"), (M, "m"), (S, "s")] {
        if nanos >= unit && nanos.is_multiple_of(unit) {
            return format!("{}{name}", nanos / unit);
        }
    }
    if nanos >= S && nanos.is_multiple_of(MS) {
        let text = format!("{:.3}", d.as_secs_f64());
        return format!("{}s", text.trim_end_matches('0').trim_end_matches('.'));
    }
    if nanos.is_multiple_of(MS) {
        return format!("{}ms", nanos / MS);
    }
    // Below millisecond precision: Debug's form (`1.5ms`, `250µs`, `10ns`) is the clearest.
    format!("{d:?}")
}

/// The form [`parse_duration`] accepts, for messages: `a number with a unit, e.g. 500ms, 10s, 2m
/// or 1h`.
pub const DURATION_FORM: &str = "a number with a unit, e.g. 500ms, 10s, 2m or 1h";

/// Why a text is not a duration (see [`parse_duration`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationTextError {
    /// Not a number followed by a known unit.
    #[error("is not a duration")]
    Malformed,
    /// A minus sign: durations count from 0 up.
    #[error("is negative: a duration counts from 0 up")]
    Negative,
    /// Longer than a `Duration` holds.
    #[error("is too long")]
    TooLong,
}

/// Parses a duration as command lines, `OPEN_EVENT_*` variables and config files write it: a
/// non-negative number (decimals allowed) followed by a unit, `ms`, `s` (`sec`, `secs`), `m`
/// (`min`, `mins`) or `h` (`hr`, `hrs`), with optional spaces around and between; `0` alone is
/// accepted too. Precision is one millisecond for fractions.
///
/// ```
/// use std::time::Duration;
/// use open_event_core::duration_text::{DurationTextError, parse_duration};
///
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration(" 2 m "), Ok(Duration::from_secs(120)));
/// assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
/// assert_eq!(parse_duration("10"), Err(DurationTextError::Malformed));
/// assert_eq!(parse_duration("-5s"), Err(DurationTextError::Negative));
/// ```
///
/// # Errors
/// [`DurationTextError`]: malformed, negative, or too long.
pub fn parse_duration(text: &str) -> Result<Duration, DurationTextError> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.starts_with('-') {
        return Err(DurationTextError::Negative);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or(DurationTextError::Malformed)?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(DurationTextError::Malformed);
    }
    let unit_ms: u64 = match unit.trim() {
        "ms" => 1,
        "s" | "sec" | "secs" => 1_000,
        "m" | "min" | "mins" => 60_000,
        "h" | "hr" | "hrs" => 3_600_000,
        _ => return Err(DurationTextError::Malformed),
    };
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(unit_ms)
            .map(Duration::from_millis)
            .ok_or(DurationTextError::TooLong);
    }
    let value: f64 = number.parse().map_err(|_| DurationTextError::Malformed)?;
    // Millisecond precision is plenty for every setting.
    let millis = (value * unit_ms as f64).round();
    Duration::try_from_secs_f64(millis / 1_000.0).map_err(|_| DurationTextError::TooLong)
}

/// Rewrites every duration written in `Debug`'s form (`600s`, `0ns`, `1.5ms`) inside `text` with
/// [`format_duration`], leaving every other word alone. For messages built before this module
/// existed.
///
/// ```
/// use open_event_core::duration_text::friendly_durations;
///
/// assert_eq!(friendly_durations("0ns ..= 600s"), "0s ..= 10m");
/// assert_eq!(friendly_durations("359996400s is out of range"), "99999h is out of range");
/// assert_eq!(friendly_durations("1ms ..= 3600s, 2 retries"), "1ms ..= 1h, 2 retries");
/// ```
pub fn friendly_durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let trimmed = word.trim_end_matches([',', ';', ')', ':']);
        match parse_debug(trimmed) {
            Some(d) => {
                out.push_str(&format_duration(d));
                out.push_str(&word[trimmed.len()..]);
            }
            None => out.push_str(word),
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || c == '(' {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Parses one duration in `Debug`'s form: a decimal number and `ns`, `µs`, `ms` or `s`.
fn parse_debug(word: &str) -> Option<Duration> {
    let split = word.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = word.split_at(split);
    if number.is_empty() || !number.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let nanos_per_unit: f64 = match unit {
        "ns" => 1.0,
        "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    if let Ok(whole) = number.parse::<u64>() {
        let nanos = u128::from(whole) * nanos_per_unit as u128;
        return u64::try_from(nanos / 1_000_000_000)
            .ok()
            .map(|secs| Duration::new(secs, u32::try_from(nanos % 1_000_000_000).unwrap_or(0)));
    }
    let nanos = (number.parse::<f64>().ok()? * nanos_per_unit).round();
    // Rounded whole nanoseconds; past u64::MAX ns (584 years) is not a duration of ours.
    (nanos.is_finite() && nanos < u64::MAX as f64).then(|| Duration::from_nanos(nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit() {
        let ms = Duration::from_millis;
        assert_eq!(format_duration(ms(250)), "250ms");
        assert_eq!(format_duration(ms(1_001)), "1.001s");
        assert_eq!(format_duration(ms(60_000)), "1m");
        assert_eq!(format_duration(ms(86_400_000)), "24h");
        assert_eq!(format_duration(ms(5_400_000)), "90m");
        assert_eq!(format_duration(Duration::from_micros(1_500)), "1.5ms");
        assert_eq!(format_duration(Duration::from_nanos(7)), "7ns");
    }

    #[test]
    fn debug_forms_round_trip() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(1),
            Duration::from_millis(1_500),
            Duration::from_secs(600),
            Duration::from_secs(86_400),
            Duration::from_micros(250),
        ] {
            assert_eq!(parse_debug(&format!("{d:?}")), Some(d), "{d:?}");
        }
        for word in ["", "s", "10", "x10s", "1d", "-1s", ".5s"] {
            assert_eq!(parse_debug(word), None, "{word}");
        }
    }

    #[test]
    fn parses_what_people_write() {
        let ms = Duration::from_millis;
        for (text, d) in [
            ("1ms", ms(1)),
            ("10 s", ms(10_000)),
            ("3secs", ms(3_000)),
            ("2min", ms(120_000)),
            ("1.5h", ms(5_400_000)),
            ("0.001s", ms(1)),
            ("0s", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(text), Ok(d), "{text}");
        }
        for text in ["", "s", "10", "ten s", "1d", "1.2.3s", ".s"] {
            assert_eq!(
                parse_duration(text),
                Err(DurationTextError::Malformed),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration("99999999999999999h"),
            Err(DurationTextError::TooLong)
        );
        assert_eq!(parse_duration("1e300h"), Err(DurationTextError::Malformed));
        assert_eq!(parse_duration("-0.5s"), Err(DurationTextError::Negative));
    }

    #[test]
    fn only_durations_are_rewritten() {
        assert_eq!(
            friendly_durations("expected 1ms ..= 86400s; got 0ns, (3600s)"),
            "expected 1ms ..= 24h; got 0s, (1h)"
        );
        assert_eq!(friendly_durations("1.0 ..= 10.0"), "1.0 ..= 10.0");
        assert_eq!(friendly_durations("  two  spaces "), "  two  spaces ");
    }
}

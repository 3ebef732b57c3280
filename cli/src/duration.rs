//! Durations on the command line (`500ms`, `10s`, `2m`, `1h`, `1.5s`) and in messages.

use std::time::Duration;

use open_event_core::duration_text::{
    DURATION_FORM, DurationTextError, format_duration, parse_duration,
};

/// Parses a duration with the core's parser (the form `OPEN_EVENT_*` variables and config
/// files take too): a non-negative number followed by a unit (`ms`, `s`, `m`, `h`); `0` alone is
/// accepted too. Used as a clap value parser, so the error is the whole message.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|err| {
        let text = text.trim();
        match err {
            DurationTextError::Negative => format!(
                "`{text}` is negative: a duration counts from 0 up, e.g. 500ms, 10s, 2m or 1h"
            ),
            DurationTextError::TooLong => format!("duration `{text}` is too long"),
            _ => format!("invalid duration `{text}`: expected {DURATION_FORM}"),
        }
    })
}

/// A value parser for a duration within `min ..= max` (both printed in the form the flag takes).
pub(crate) fn between(
    min: Duration,
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text| {
        let d = parse(text)?;
        if d < min || d > max {
            return Err(format!(
                "{} is out of range; expected {}",
                format_duration(d),
                range(min, max)
            ));
        }
        Ok(d)
    }
}

/// `1ms ..= 10m`.
pub(crate) fn range(min: Duration, max: Duration) -> String {
    format!("{} ..= {}", format_duration(min), format_duration(max))
}

/// A duration as people read it: `250 ms`, `1.5 s`, `2 min`.
pub(crate) fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        let secs = d.as_secs_f64();
        if ms.is_multiple_of(1_000) {
            format!("{secs:.0} s")
        } else {
            format!("{secs:.1} s")
        }
    } else if ms.is_multiple_of(60_000) {
        format!("{} min", ms / 60_000)
    } else {
        format!("{:.1} min", d.as_secs_f64() / 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_fractions() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse(" 20 ms "), Ok(Duration::from_millis(20)));
    }

    #[test]
    fn rejects_junk_with_an_example() {
        for bad in ["", "10", "s", "ten s", "1d", "1.2.3s"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("500ms"), "{bad}: {err}");
        }
        assert!(
            parse("99999999999999999h")
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn negatives_and_ranges_say_what_is_allowed() {
        assert!(parse("-5s").unwrap_err().contains("`-5s` is negative"));
        let check = between(Duration::from_millis(1), Duration::from_secs(600));
        assert_eq!(
            check("0s").unwrap_err(),
            "0s is out of range; expected 1ms ..= 10m"
        );
        assert_eq!(
            check("99999h").unwrap_err(),
            "99999h is out of range; expected 1ms ..= 10m"
        );
        assert_eq!(check("2m"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn prints_for_people() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human(Duration::from_secs(3)), "3 s");
        assert_eq!(human(Duration::from_secs(120)), "2 min");
    }
}

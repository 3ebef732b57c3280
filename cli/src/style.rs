//! Colour decisions, coloured pretty JSON, timestamps, and counted nouns.

use std::io::IsTerminal;

use anstream::ColorChoice;
use owo_colors::{OwoColorize, Style};
use serde_json::Value;

/// Whether to emit ANSI colours on one stream, and the helpers that honour it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    enabled: bool,
}

/// Which stream a palette is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Palette {
    /// Colours only on a terminal, never with `NO_COLOR` (anstream's decision, which also
    /// honours `CLICOLOR`, `CLICOLOR_FORCE` and `TERM=dumb`), never with `--no-color`.
    pub(crate) fn detect(stream: Stream, no_color: bool) -> Self {
        let choice = match stream {
            Stream::Stdout => {
                let out = std::io::stdout();
                (out.is_terminal(), anstream::AutoStream::choice(&out))
            }
            Stream::Stderr => {
                let err = std::io::stderr();
                (err.is_terminal(), anstream::AutoStream::choice(&err))
            }
        };
        let enabled = !no_color
            && match choice {
                (_, ColorChoice::Never) => false,
                (tty, ColorChoice::Auto) => tty,
                (_, ColorChoice::Always | ColorChoice::AlwaysAnsi) => true,
            };
        Self { enabled }
    }

    /// A palette that never colours.
    #[cfg(test)]
    pub(crate) fn plain() -> Self {
        Self { enabled: false }
    }

    /// Whether colours are on.
    pub(crate) fn enabled(self) -> bool {
        self.enabled
    }

    /// `text` in `style`, or as is without colours.
    pub(crate) fn paint(self, text: &str, style: Style) -> String {
        if self.enabled {
            text.style(style).to_string()
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn bold(self, text: &str) -> String {
        self.paint(text, Style::new().bold())
    }

    pub(crate) fn dim(self, text: &str) -> String {
        self.paint(text, Style::new().dimmed())
    }

    pub(crate) fn green(self, text: &str) -> String {
        self.paint(text, Style::new().green())
    }

    pub(crate) fn red(self, text: &str) -> String {
        self.paint(text, Style::new().red().bold())
    }

    pub(crate) fn yellow(self, text: &str) -> String {
        self.paint(text, Style::new().yellow())
    }

    pub(crate) fn cyan(self, text: &str) -> String {
        self.paint(text, Style::new().cyan())
    }

    pub(crate) fn blue(self, text: &str) -> String {
        self.paint(text, Style::new().blue())
    }

    pub(crate) fn magenta(self, text: &str) -> String {
        self.paint(text, Style::new().magenta())
    }

    /// `value` as indented JSON, every line prefixed with `indent`, keys and scalars coloured.
    pub(crate) fn json(self, value: &Value, indent: &str) -> String {
        let mut out = String::new();
        out.push_str(indent);
        self.write_value(&mut out, value, indent, 0);
        out
    }

    fn write_value(self, out: &mut String, value: &Value, indent: &str, depth: usize) {
        let pad = |out: &mut String, depth: usize| {
            out.push('\n');
            out.push_str(indent);
            for _ in 0..depth {
                out.push_str("  ");
            }
        };
        match value {
            Value::Null => out.push_str(&self.magenta("null")),
            Value::Bool(b) => out.push_str(&self.magenta(&b.to_string())),
            Value::Number(n) => out.push_str(&self.yellow(&n.to_string())),
            Value::String(s) => out.push_str(&self.green(&quote(s))),
            Value::Array(items) if items.is_empty() => out.push_str("[]"),
            Value::Object(map) if map.is_empty() => out.push_str("{}"),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    pad(out, depth + 1);
                    self.write_value(out, item, indent, depth + 1);
                    if i + 1 < items.len() {
                        out.push(',');
                    }
                }
                pad(out, depth);
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (key, item)) in map.iter().enumerate() {
                    pad(out, depth + 1);
                    out.push_str(&self.blue(&quote(key)));
                    out.push_str(": ");
                    self.write_value(out, item, indent, depth + 1);
                    if i + 1 < map.len() {
                        out.push(',');
                    }
                }
                pad(out, depth);
                out.push('}');
            }
        }
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// `n` and `noun`, plural unless `n` is 1: `1 event`, `2 events`, `0 events`.
pub(crate) fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `secs` since the Unix epoch as RFC 3339 in UTC, e.g. `2024-01-01T00:00:00Z`.
pub(crate) fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let Ok(year4 @ 0..=9999) = u32::try_from(year) else {
        // Outside the four-digit years (only from a made-up `time`): the general formatter.
        return format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z");
    };
    // Once per printed event, so without the formatting machinery.
    let mut out = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year4);
    put(5, 2, month);
    put(8, 2, day);
    // In 0..86_400 by `rem_euclid`, so each part fits.
    put(11, 2, hour as u32);
    put(14, 2, minute as u32);
    put(17, 2, second as u32);
    String::from_utf8_lossy(&out).into_owned()
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_825_600), "2000-02-29T12:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        // Past the four-digit years, the general formatter.
        assert_eq!(rfc3339(253_402_300_800), "10000-01-01T00:00:00Z");
        assert_eq!(rfc3339(-62_167_219_200), "0000-01-01T00:00:00Z");
    }

    #[test]
    fn plain_json_is_valid_pretty_json() {
        let value: Value = serde_json::json!({"a": [1, {"b": null}], "c": "x\"y", "d": {}});
        let text = Palette::plain().json(&value, "  ");
        assert!(text.starts_with("  {\n    \"a\": ["), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn colours_only_when_enabled() {
        let on = Palette { enabled: true };
        assert!(on.green("x").contains("\u{1b}["));
        assert_eq!(Palette::plain().green("x"), "x");
    }
}

//! `--events`: which event codes to handle (exact codes and `*` globs).

use open_event_core::dispatcher::{Dispatcher, PatternCheck, check_pattern};

use crate::failure::Failure;

/// A set of event-code patterns (routed by the core's dispatcher); empty takes everything.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventFilter {
    patterns: Vec<String>,
}

impl EventFilter {
    /// Checks and keeps the patterns (`*` matches any run of characters, dots included).
    pub(crate) fn new(patterns: &[String]) -> Result<Self, Failure> {
        let mut kept = Vec::with_capacity(patterns.len());
        for pattern in patterns {
            let pattern = pattern.trim();
            if pattern.is_empty() {
                return Err(Failure::other(
                    "--events got an empty pattern: give event codes such as \
                     kso.app_chat.message.create or globs such as 'kso.app_chat.*'",
                ));
            }
            if let Some(bad) = pattern.chars().find(|c| c.is_whitespace()) {
                return Err(Failure::other(format!(
                    "--events pattern {pattern:?} contains {bad:?}: event codes have no \
                     whitespace; separate patterns with commas or repeat --events"
                )));
            }
            kept.push(pattern.to_owned());
        }
        Ok(Self { patterns: kept })
    }

    /// Checks every pattern against the event codes the core knows: one that matches none of
    /// them and looks like a typo is a warning (returned, for the caller to print), or with
    /// `strict` the error.
    pub(crate) fn suspects(&self, strict: bool) -> Result<Vec<String>, Failure> {
        let mut warnings = Vec::new();
        for pattern in &self.patterns {
            if let PatternCheck::Typo { suggestion, why } = check_pattern(pattern) {
                let text = format!(
                    "--events {pattern:?} matches no event code openevent knows ({why}): did you \
                     mean {suggestion:?}? Events it does not match are acked 200 unhandled and \
                     are not redelivered"
                );
                if strict {
                    return Err(Failure::other(format!("{text} (--strict)")));
                }
                warnings.push(format!("{text}; --strict makes this an error"));
            }
        }
        Ok(warnings)
    }

    /// Whether any pattern is set.
    pub(crate) fn is_active(&self) -> bool {
        !self.patterns.is_empty()
    }

    /// A dispatcher sending the wanted events to `handler`. Without patterns every event goes
    /// to it (as the fallback); with patterns, the others are unrouted: the core acks them 200
    /// and counts them as unhandled.
    pub(crate) fn dispatcher<H: Clone>(&self, handler: H) -> Dispatcher<H> {
        let mut dispatcher = Dispatcher::new();
        if self.patterns.is_empty() {
            dispatcher.fallback(handler);
        } else {
            for pattern in &self.patterns {
                dispatcher.on(pattern.as_str(), handler.clone());
            }
        }
        dispatcher
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(patterns: &[&str]) -> EventFilter {
        let patterns: Vec<String> = patterns.iter().map(|s| (*s).to_owned()).collect();
        EventFilter::new(&patterns).unwrap()
    }

    fn takes(f: &EventFilter, code: &str) -> bool {
        !f.dispatcher(()).route(code).is_unhandled()
    }

    #[test]
    fn exact_codes_and_globs() {
        let f = filter(&["kso.app_chat.*", "kso.xz.app.group_chat.delete"]);
        assert!(takes(&f, "kso.app_chat.message.create"));
        assert!(takes(&f, "kso.app_chat.create"));
        assert!(takes(&f, "kso.xz.app.group_chat.delete"));
        assert!(!takes(&f, "kso.xz.app.group_chat.member.user.create"));
        assert!(!takes(&f, "kso.app_chat"));
        let f = filter(&["*.create"]);
        assert!(takes(&f, "kso.app_chat.create"));
        assert!(!takes(&f, "kso.xz.app.group_chat.delete"));
        let f = filter(&["kso.*.member.*.delete"]);
        assert!(takes(&f, "kso.xz.app.group_chat.member.user.delete"));
        assert!(!takes(&f, "kso.xz.app.group_chat.member.user.create"));
    }

    #[test]
    fn no_pattern_takes_all_and_star_matches_empty() {
        assert!(takes(&filter(&[]), "anything"));
        assert!(!filter(&[]).is_active());
        assert!(takes(&filter(&["a*"]), "a"));
        assert!(takes(&filter(&["*"]), ""));
        assert!(!takes(&filter(&["a"]), "ab"));
    }

    #[test]
    fn typos_warn_or_fail_with_strict() {
        let f = filter(&[
            "kso.app_chat",
            "kso.calendar.event.create",
            "kso.app_chat.*",
        ]);
        let warnings = f.suspects(false).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains(r#"did you mean "kso.app_chat.*""#),
            "{warnings:?}"
        );
        let err = f.suspects(true).unwrap_err();
        assert!(err.message.contains("--strict"), "{err}");
        assert!(
            filter(&["kso.calendar.event.create"])
                .suspects(true)
                .is_ok()
        );
    }

    #[test]
    fn bad_patterns_say_what_to_write() {
        let err = EventFilter::new(&[" ".to_owned()]).unwrap_err();
        assert!(err.message.contains("kso.app_chat"), "{err}");
        let err = EventFilter::new(&["a b".to_owned()]).unwrap_err();
        assert!(err.message.contains("commas"), "{err}");
    }
}

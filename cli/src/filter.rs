//! `--events`: which event codes to handle (exact codes and `*` globs).

use crate::failure::Failure;

/// A set of event-code patterns; empty matches everything.
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

    /// Whether `code` is wanted.
    pub(crate) fn matches(&self, code: &str) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| glob(p, code))
    }

    /// Whether any pattern is set.
    pub(crate) fn is_active(&self) -> bool {
        !self.patterns.is_empty()
    }
}

/// `*`-only glob matching, linear time (backtracks to the last star only).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(patterns: &[&str]) -> EventFilter {
        let patterns: Vec<String> = patterns.iter().map(|s| (*s).to_owned()).collect();
        EventFilter::new(&patterns).unwrap()
    }

    #[test]
    fn exact_codes_and_globs() {
        let f = filter(&["kso.app_chat.*", "kso.xz.app.group_chat.delete"]);
        assert!(f.matches("kso.app_chat.message.create"));
        assert!(f.matches("kso.app_chat.create"));
        assert!(f.matches("kso.xz.app.group_chat.delete"));
        assert!(!f.matches("kso.xz.app.group_chat.member.user.create"));
        assert!(!f.matches("kso.app_chat"));
        let f = filter(&["*.create"]);
        assert!(f.matches("kso.app_chat.create"));
        assert!(!f.matches("kso.xz.app.group_chat.delete"));
        let f = filter(&["kso.*.member.*.delete"]);
        assert!(f.matches("kso.xz.app.group_chat.member.user.delete"));
        assert!(!f.matches("kso.xz.app.group_chat.member.user.create"));
    }

    #[test]
    fn no_pattern_matches_all_and_star_matches_empty() {
        assert!(filter(&[]).matches("anything"));
        assert!(!filter(&[]).is_active());
        assert!(filter(&["a*"]).matches("a"));
        assert!(filter(&["*"]).matches(""));
        assert!(!filter(&["a"]).matches("ab"));
    }

    #[test]
    fn bad_patterns_say_what_to_write() {
        let err = EventFilter::new(&[" ".to_owned()]).unwrap_err();
        assert!(err.message.contains("kso.app_chat"), "{err}");
        let err = EventFilter::new(&["a b".to_owned()]).unwrap_err();
        assert!(err.message.contains("commas"), "{err}");
    }
}

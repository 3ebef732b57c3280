//! Counters kept by a [`crate::connection::Connection`] (and the rejection counters a webhook
//! endpoint shares).

use std::fmt;
use std::time::Instant;

use crate::codec::RejectKind;

/// What a connection has seen and done since it was created.
///
/// Read it with [`crate::connection::Connection::stats`]; it is a plain copy, cheap to take.
/// `Display` gives one readable line:
///
/// ```
/// use open_event_core::stats::Stats;
///
/// let mut stats = Stats::default();
/// stats.events_received = 3;
/// stats.events_delivered = 2;
/// stats.acked_ok = 2;
/// stats.rejected.signature_mismatch = 1;
/// stats.connects = 1;
/// assert_eq!(
///     stats.to_string(),
///     "3 events received: 2 delivered (0 unhandled), 0 duplicates, 1 rejected \
///      (signature_mismatch 1); acks: 2 ok, 0 error, 0 unsent, 0 late outcomes; 1 connect, \
///      0 reconnects, 0 goaways, 0 pings"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Text frames that were events (valid or not).
    pub events_received: u64,
    /// Events handed to the application.
    pub events_delivered: u64,
    /// Acks with code 200 written and flushed to the socket (the runtime confirmed the write;
    /// an ack only queued does not count).
    pub acked_ok: u64,
    /// Acks with an error code written and flushed to the socket.
    pub acked_error: u64,
    /// Acks queued but never flushed: their transport died first (the server redelivers those
    /// events).
    pub acks_unsent: u64,
    /// Deliveries completed with [`crate::connection::Outcome::Unhandled`] (no handler, no
    /// fallback; acked 200).
    pub unhandled: u64,
    /// Frames rejected, by reason (one named field per [`RejectKind`]; see also
    /// [`Stats::rejected`]).
    pub rejected: Rejections,
    /// Events not delivered because their nonce was seen within the dedup window.
    pub duplicates: u64,
    /// Outcomes that arrived after the connection that carried their event had died (nothing
    /// was sent: the server redelivers).
    pub late_outcomes: u64,
    /// GoAway frames received.
    pub goaways: u64,
    /// Transports opened successfully.
    pub connects: u64,
    /// Connect attempts made after the first one.
    pub reconnects: u64,
    /// Pings received (each answered with one pong).
    pub pings: u64,
    /// When the last frame of any kind arrived from the server.
    pub last_frame_at: Option<Instant>,
}

impl Stats {
    /// Frames rejected for `kind`.
    pub fn rejected(&self, kind: RejectKind) -> u64 {
        self.rejected.get(kind)
    }

    /// Frames rejected for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.total()
    }
}

impl fmt::Display for Stats {
    /// One line: events (delivered, unhandled, duplicates, rejected by reason), acks,
    /// connections. Counts of one are singular.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} received: {} delivered ({} unhandled), {}, {} rejected",
            plural(self.events_received, "event"),
            self.events_delivered,
            self.unhandled,
            plural(self.duplicates, "duplicate"),
            self.rejected.total(),
        )?;
        if self.rejected.total() > 0 {
            write!(f, " ({})", self.rejected)?;
        }
        write!(
            f,
            "; acks: {} ok, {} error, {} unsent, {}; {}, {}, {}, {}",
            self.acked_ok,
            self.acked_error,
            self.acks_unsent,
            plural(self.late_outcomes, "late outcome"),
            plural(self.connects, "connect"),
            plural(self.reconnects, "reconnect"),
            plural(self.goaways, "goaway"),
            plural(self.pings, "ping"),
        )
    }
}

/// `n thing` or `n things`.
fn plural(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// Frames (or webhook bodies) rejected, one named counter per [`RejectKind`].
///
/// ```
/// use open_event_core::codec::RejectKind;
/// use open_event_core::stats::Rejections;
///
/// let mut rejected = Rejections::default();
/// rejected.add(RejectKind::Padding);
/// rejected.add(RejectKind::Padding);
/// rejected.add(RejectKind::Binary);
/// assert_eq!((rejected.padding, rejected.get(RejectKind::Padding), rejected.total()), (2, 2, 3));
/// assert_eq!(rejected.to_string(), "binary 1, padding 2");
/// assert!(format!("{rejected:?}").contains("padding: 2"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejections {
    /// Binary frames.
    pub binary: u64,
    /// Not JSON, not an object, an unknown type, a missing or invalid field.
    pub malformed: u64,
    /// The signature is not unpadded base64url of 32 bytes.
    pub signature_encoding: u64,
    /// The signature does not match.
    pub signature_mismatch: u64,
    /// `encrypted_data` is not standard padded base64.
    pub ciphertext_encoding: u64,
    /// The ciphertext is empty or not a multiple of 16 bytes.
    pub ciphertext_length: u64,
    /// The nonce is shorter than 16 bytes.
    pub nonce_too_short: u64,
    /// Bad PKCS#7 padding.
    pub padding: u64,
    /// The plaintext is not UTF-8.
    pub not_utf8: u64,
    /// The plaintext is UTF-8 but not JSON.
    pub plaintext_not_json: u64,
}

impl Rejections {
    /// The counter of `kind`.
    pub fn get(&self, kind: RejectKind) -> u64 {
        *self.slot(kind)
    }

    /// Counts one rejection of `kind`.
    pub fn add(&mut self, kind: RejectKind) {
        *self.slot_mut(kind) += 1;
    }

    /// Rejections of every kind.
    pub fn total(&self) -> u64 {
        RejectKind::ALL.iter().map(|&kind| self.get(kind)).sum()
    }

    /// Every kind with its count, in [`RejectKind::ALL`] order (zeros included).
    pub fn iter(&self) -> impl Iterator<Item = (RejectKind, u64)> + '_ {
        RejectKind::ALL
            .into_iter()
            .map(|kind| (kind, self.get(kind)))
    }

    fn slot(&self, kind: RejectKind) -> &u64 {
        match kind {
            RejectKind::Binary => &self.binary,
            RejectKind::Malformed => &self.malformed,
            RejectKind::SignatureEncoding => &self.signature_encoding,
            RejectKind::SignatureMismatch => &self.signature_mismatch,
            RejectKind::CiphertextEncoding => &self.ciphertext_encoding,
            RejectKind::CiphertextLength => &self.ciphertext_length,
            RejectKind::NonceTooShort => &self.nonce_too_short,
            RejectKind::Padding => &self.padding,
            RejectKind::NotUtf8 => &self.not_utf8,
            RejectKind::PlaintextNotJson => &self.plaintext_not_json,
        }
    }

    fn slot_mut(&mut self, kind: RejectKind) -> &mut u64 {
        match kind {
            RejectKind::Binary => &mut self.binary,
            RejectKind::Malformed => &mut self.malformed,
            RejectKind::SignatureEncoding => &mut self.signature_encoding,
            RejectKind::SignatureMismatch => &mut self.signature_mismatch,
            RejectKind::CiphertextEncoding => &mut self.ciphertext_encoding,
            RejectKind::CiphertextLength => &mut self.ciphertext_length,
            RejectKind::NonceTooShort => &mut self.nonce_too_short,
            RejectKind::Padding => &mut self.padding,
            RejectKind::NotUtf8 => &mut self.not_utf8,
            RejectKind::PlaintextNotJson => &mut self.plaintext_not_json,
        }
    }
}

impl fmt::Display for Rejections {
    /// The non-zero counters as `kind n`, comma-separated (`none` when all are zero).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (kind, n) in self.iter().filter(|&(_, n)| n > 0) {
            if any {
                f.write_str(", ")?;
            }
            write!(f, "{kind} {n}")?;
            any = true;
        }
        if !any {
            f.write_str("none")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_counter() {
        let mut rejected = Rejections::default();
        for (i, kind) in RejectKind::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                rejected.add(kind);
            }
        }
        for (i, (kind, n)) in rejected.iter().enumerate() {
            assert_eq!(n, i as u64 + 1, "{kind}");
        }
        assert_eq!(rejected.total(), 55);
        assert_eq!(Rejections::default().to_string(), "none");
        let debug = format!("{rejected:?}");
        assert!(
            debug.contains("signature_mismatch: 4") && !debug.contains('['),
            "{debug}"
        );
    }

    #[test]
    fn display_is_one_readable_line() {
        let stats = Stats {
            events_received: 1,
            events_delivered: 1,
            acked_ok: 1,
            duplicates: 1,
            late_outcomes: 1,
            connects: 2,
            reconnects: 1,
            goaways: 1,
            pings: 1,
            ..Stats::default()
        };
        let text = stats.to_string();
        assert_eq!(
            text,
            "1 event received: 1 delivered (0 unhandled), 1 duplicate, 0 rejected; acks: 1 ok, \
             0 error, 0 unsent, 1 late outcome; 2 connects, 1 reconnect, 1 goaway, 1 ping"
        );
        assert!(!text.contains('\n'));
        assert!(!format!("{stats:?}").contains('['));
    }
}

//! The leader lease behind one trait: [`Lease`], with [`RedisLease`](crate::RedisLease) and
//! [`KvLease`](crate::KvLease).

use std::time::Duration;

use futures_util::future::BoxFuture;

/// A lease that at most one instance holds at a time, for [`Lease::ttl`] after its last
/// acquire or renew, with a fencing token that grows with every grant.
///
/// The relay decides when to call what ([`Leadership`](crate::leadership::Leadership)); an
/// implementation only talks to its broker.
pub trait Lease: Send + Sync + 'static {
    /// Takes the lease when nobody holds it: `Ok(Some(token))` granted (a token larger than
    /// every earlier one), `Ok(None)` another instance holds it.
    fn acquire(&self) -> BoxFuture<'_, Result<Option<u64>, LeaseError>>;

    /// Extends the lease held under `token` by a full TTL: `Ok(false)` when it is not ours
    /// any more (expired, or another instance holds it).
    fn renew(&self, token: u64) -> BoxFuture<'_, Result<bool, LeaseError>>;

    /// Gives the lease back if it is still held under `token` (a no-op otherwise).
    fn release(&self, token: u64) -> BoxFuture<'_, Result<(), LeaseError>>;

    /// How long a grant or renewal lasts.
    fn ttl(&self) -> Duration;

    /// Where the lease lives, for status lines (never with credentials).
    fn describe(&self) -> String;
}

/// A lease operation failed (the broker could not be reached or answered with an error).
#[derive(Debug, Clone, thiserror::Error)]
#[error("lease at {at}: {reason}")]
pub struct LeaseError {
    pub(crate) at: String,
    pub(crate) reason: String,
}

/// A lease chosen at run time (e.g. from a URL) is still a lease.
impl Lease for Box<dyn Lease> {
    fn acquire(&self) -> BoxFuture<'_, Result<Option<u64>, LeaseError>> {
        (**self).acquire()
    }

    fn renew(&self, token: u64) -> BoxFuture<'_, Result<bool, LeaseError>> {
        (**self).renew(token)
    }

    fn release(&self, token: u64) -> BoxFuture<'_, Result<(), LeaseError>> {
        (**self).release(token)
    }

    fn ttl(&self) -> Duration {
        (**self).ttl()
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

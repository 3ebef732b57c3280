//! [`RedisLease`]: the leader lease as a Redis key.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;

use crate::address::BrokerAddress;
use crate::lease::{Lease, LeaseError};
use crate::streams::manager;

/// Grants the lease when the key is free: the fencing token comes from `INCR KEY:fence`, and
/// the key holds `OWNER:TOKEN` with `SET NX PX ttl`.
const ACQUIRE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token
";

/// Compare-and-extend: only the holder's value gets a fresh TTL.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Compare-and-delete.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// The leader lease as the Redis key `KEY` (`SET NX PX`), with a fencing token from
/// `INCR KEY:fence` and renewals by a compare-and-extend script, so only the holder extends
/// it.
///
/// ```no_run
/// use std::time::Duration;
/// use open_event_relay::{BrokerAddress, RedisLease};
///
/// let address = BrokerAddress::parse("redis://127.0.0.1:6379/wps-relay-leader")?;
/// let lease = RedisLease::new(&address, Duration::from_secs(10))?;
/// # let _ = lease;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RedisLease {
    conn: ConnectionManager,
    key: Arc<str>,
    fence: Arc<str>,
    owner: Arc<str>,
    ttl: Duration,
    shown: Arc<str>,
    scripts: Arc<[redis::Script; 3]>,
}

impl RedisLease {
    /// A lease on `address.name()` lasting `ttl` (connects lazily, reconnects with backoff).
    ///
    /// # Errors
    /// [`LeaseError`] when the address is not a `redis://` one or `ttl` is under 100 ms.
    pub fn new(address: &BrokerAddress, ttl: Duration) -> Result<Self, LeaseError> {
        let shown = address.to_string();
        if ttl < Duration::from_millis(100) {
            return Err(LeaseError {
                at: shown,
                reason: format!("a TTL of {ttl:?} is too short; use 100 ms or more (e.g. 10 s)"),
            });
        }
        // Lease operations must answer well within the retry interval.
        let timeout = (ttl / 10).max(Duration::from_millis(20));
        let conn = manager(address, timeout, timeout).map_err(|err| LeaseError {
            at: shown.clone(),
            reason: err.to_string(),
        })?;
        Ok(Self {
            conn,
            key: address.name().into(),
            fence: format!("{}:fence", address.name()).into(),
            owner: format!("{:016x}", fastrand::u64(..)).into(),
            ttl,
            shown: shown.into(),
            scripts: Arc::new([
                redis::Script::new(ACQUIRE),
                redis::Script::new(RENEW),
                redis::Script::new(RELEASE),
            ]),
        })
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    fn value(&self, token: u64) -> String {
        format!("{}:{token}", self.owner)
    }

    fn error(&self, err: &redis::RedisError) -> LeaseError {
        LeaseError {
            at: self.shown.to_string(),
            reason: err.to_string(),
        }
    }
}

impl Lease for RedisLease {
    fn acquire(&self) -> BoxFuture<'_, Result<Option<u64>, LeaseError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            self.scripts[0]
                .key(&*self.key)
                .key(&*self.fence)
                .arg(&*self.owner)
                .arg(self.ttl_ms())
                .invoke_async::<Option<u64>>(&mut conn)
                .await
                .map_err(|err| self.error(&err))
        })
    }

    fn renew(&self, token: u64) -> BoxFuture<'_, Result<bool, LeaseError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            self.scripts[1]
                .key(&*self.key)
                .arg(self.value(token))
                .arg(self.ttl_ms())
                .invoke_async::<i64>(&mut conn)
                .await
                .map(|n| n == 1)
                .map_err(|err| self.error(&err))
        })
    }

    fn release(&self, token: u64) -> BoxFuture<'_, Result<(), LeaseError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            self.scripts[2]
                .key(&*self.key)
                .arg(self.value(token))
                .invoke_async::<i64>(&mut conn)
                .await
                .map(drop)
                .map_err(|err| self.error(&err))
        })
    }

    fn ttl(&self) -> Duration {
        self.ttl
    }

    fn describe(&self) -> String {
        format!("redis key {}", self.shown)
    }
}

impl fmt::Debug for RedisLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLease")
            .field("key", &self.shown)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

//! [`KvLease`]: the leader lease as a key in a NATS JetStream key-value bucket.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::address::BrokerAddress;
use crate::jetstream::client;
use crate::lease::{Lease, LeaseError};

/// The key inside the bucket.
const KEY: &str = "leader";

/// The leader lease as the key `leader` of the NATS KV bucket `BUCKET`, whose `max_age` is
/// the TTL (so a value not renewed disappears after it). Acquire is a `create` (succeeds only
/// when the key is absent or deleted); its revision is the fencing token. Renew is an `update`
/// expecting the last revision, so only the holder extends it.
///
/// The bucket is created with `max_age = ttl` and `history = 1` when missing; an existing
/// bucket with another `max_age` is an error (the TTL must match on every instance).
#[derive(Clone)]
pub struct KvLease {
    store: kv::Store,
    ttl: Duration,
    owner: Arc<str>,
    shown: Arc<str>,
    /// The revision of our last write (updates must name it).
    revision: Arc<Mutex<u64>>,
}

impl KvLease {
    /// Connects and opens (or creates) the bucket `address.name()`.
    ///
    /// # Errors
    /// [`LeaseError`] when the server cannot be reached, JetStream is off, or the bucket
    /// exists with a different `max_age`.
    pub async fn connect(address: &BrokerAddress, ttl: Duration) -> Result<Self, LeaseError> {
        let shown = address.to_string();
        let fail = |reason: String| LeaseError {
            at: shown.clone(),
            reason,
        };
        if ttl < Duration::from_millis(100) {
            return Err(fail(format!(
                "a TTL of {ttl:?} is too short; use 100 ms or more (e.g. 10 s)"
            )));
        }
        let timeout = (ttl / 10).max(Duration::from_millis(50));
        let client = client(address, timeout)
            .await
            .map_err(|err| fail(err.to_string()))?;
        let js = jetstream::new(client);
        let bucket = address.name();
        let store = match js.get_key_value(bucket).await {
            Ok(store) => {
                let status = store
                    .status()
                    .await
                    .map_err(|err| fail(format!("cannot read bucket {bucket}: {err}")))?;
                let max_age = status.max_age();
                if max_age != ttl {
                    return Err(fail(format!(
                        "the bucket {bucket} has max_age {max_age:?} but the lease TTL is \
                         {ttl:?}; use the same --lease-ttl on every instance, or delete the \
                         bucket"
                    )));
                }
                store
            }
            Err(_) => {
                create_bucket(&js, bucket, ttl).await.map_err(|err| {
                    fail(format!(
                        "cannot create the KV bucket {bucket} ({err}); is JetStream enabled \
                         (nats-server -js)?"
                    ))
                })?;
                js.get_key_value(bucket)
                    .await
                    .map_err(|err| fail(format!("cannot open the KV bucket {bucket}: {err}")))?
            }
        };
        Ok(Self {
            store,
            ttl,
            owner: format!("{:016x}", fastrand::u64(..)).into(),
            shown: shown.into(),
            revision: Arc::new(Mutex::new(0)),
        })
    }

    fn error(&self, err: &dyn fmt::Display) -> LeaseError {
        LeaseError {
            at: self.shown.to_string(),
            reason: err.to_string(),
        }
    }

    fn last_revision(&self) -> u64 {
        *self.revision.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_revision(&self, revision: u64) {
        *self.revision.lock().unwrap_or_else(PoisonError::into_inner) = revision;
    }
}

/// Creates the bucket's stream the way the KV API lays it out (`KV_<bucket>`, subjects
/// `$KV.<bucket>.>`, one value per key, roll-ups, direct gets). Done by hand rather than with
/// `create_key_value`, whose account-info query nats-server 2.9 answers in a shape the client
/// does not parse.
async fn create_bucket(
    js: &jetstream::Context,
    bucket: &str,
    ttl: Duration,
) -> Result<(), jetstream::context::CreateStreamError> {
    js.create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        // The duplicate window may not exceed max_age.
        duplicate_window: ttl.min(Duration::from_secs(120)),
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map(drop)
}

impl Lease for KvLease {
    fn acquire(&self) -> BoxFuture<'_, Result<Option<u64>, LeaseError>> {
        Box::pin(async move {
            match self
                .store
                .create(KEY, Bytes::from(self.owner.to_string()))
                .await
            {
                Ok(revision) => {
                    self.set_revision(revision);
                    Ok(Some(revision))
                }
                Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
                Err(err) => Err(self.error(&err)),
            }
        })
    }

    fn renew(&self, _token: u64) -> BoxFuture<'_, Result<bool, LeaseError>> {
        Box::pin(async move {
            let last = self.last_revision();
            match self
                .store
                .update(KEY, Bytes::from(self.owner.to_string()), last)
                .await
            {
                Ok(revision) => {
                    self.set_revision(revision);
                    Ok(true)
                }
                Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
                Err(err) => Err(self.error(&err)),
            }
        })
    }

    fn release(&self, _token: u64) -> BoxFuture<'_, Result<(), LeaseError>> {
        Box::pin(async move {
            let last = self.last_revision();
            match self.store.delete_expect_revision(KEY, Some(last)).await {
                Ok(()) => Ok(()),
                // Someone else's revision: not ours to delete.
                Err(err) if err.kind() == kv::DeleteErrorKind::WrongLastRevision => Ok(()),
                Err(err) => Err(self.error(&err)),
            }
        })
    }

    fn ttl(&self) -> Duration {
        self.ttl
    }

    fn describe(&self) -> String {
        format!("nats kv {}", self.shown)
    }
}

impl fmt::Debug for KvLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvLease")
            .field("bucket", &self.shown)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

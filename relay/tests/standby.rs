//! Two relay instances behind a leader lease, against the emulator with real brokers: never
//! two platform connections at once, takeover after the leader dies, nothing lost, and a
//! leader that cannot renew closes before its lease can expire.

mod scenario;
mod servers;

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use open_event_emulator::{Emulator, EmulatorHandle, EmulatorOptions, EventSpec};
use open_event_relay::{
    BrokerAddress, KvLease, Lease, RedisLease, RelayError, RelayHandle, Role, Sink,
};
use open_event_tokio::Client;
use scenario::{Broker, Confirmations, Kind, assert_all_accepted, assert_stored_once, relay};
use tokio::task::JoinHandle;

const TTL: Duration = Duration::from_secs(1);
const WAIT: Duration = Duration::from_secs(30);

/// A lease of `kind` named `leader` on the broker at `address`'s server.
async fn lease(kind: Kind, broker: &Broker) -> Box<dyn Lease> {
    let server = broker.address();
    let url = match kind {
        Kind::Redis => format!("redis://{}/leader", server.server()),
        Kind::Nats => format!("nats://{}/leader", server.server()),
    };
    let address = BrokerAddress::parse(&url).unwrap();
    match kind {
        Kind::Redis => Box::new(RedisLease::new(&address, TTL).unwrap()),
        Kind::Nats => Box::new(KvLease::connect(&address, TTL).await.unwrap()),
    }
}

struct Instance {
    handle: RelayHandle,
    task: JoinHandle<Result<(), RelayError>>,
}

fn start(emulator: &EmulatorHandle, sink: impl Sink, lease: Box<dyn Lease>) -> Instance {
    let relay = relay(emulator, sink).lease(lease).build();
    Instance {
        handle: relay.handle(),
        task: tokio::spawn(relay.run()),
    }
}

async fn wait_role(instance: &Instance, role: Role) {
    let deadline = Instant::now() + WAIT;
    while instance.handle.status().role != role {
        assert!(
            Instant::now() < deadline,
            "never {role:?}: {:?}",
            instance.handle
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn assert_never_two_connections(emulator: &EmulatorHandle) {
    emulator.with_report(|report| {
        let overlaps = report.overlapping_connections();
        assert!(
            overlaps.is_empty(),
            "connections open at once: {overlaps:?}"
        );
    });
}

async fn leader_killed(kind: Kind) {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let broker = Broker::start(kind);
    let sink = Confirmations::new(broker.sink().await);
    let a = start(&emulator, sink.clone(), lease(kind, &broker).await);
    wait_role(&a, Role::Leader).await;
    let b = start(&emulator, sink.clone(), lease(kind, &broker).await);
    emulator.set_push_rate(NonZeroU32::new(1_000));
    let pushed = emulator
        .push_many(2_000, &EventSpec::chat_message("hello"))
        .unwrap();
    emulator.wait_for_acks(300, WAIT).await.unwrap();
    assert_eq!(b.handle.status().role, Role::Standby);

    // kill -9 of the leader: its connection drops, its lease is not released.
    a.task.abort();
    let killed_at = Instant::now();
    wait_role(&b, Role::Leader).await;
    emulator.wait_for_acks(2_000, WAIT).await.unwrap();
    let takeover = emulator.with_report(|r| r.connections.last().unwrap().opened_at - killed_at);
    // The standby waits for the lease to expire (at most a TTL after the last renewal),
    // then connects: well within TTL plus a reconnect.
    assert!(takeover < TTL * 3, "takeover took {takeover:?}");
    b.handle.stop();
    b.task.await.unwrap().unwrap();

    assert_never_two_connections(&emulator);
    assert_all_accepted(&emulator, &pushed);
    assert_stored_once(&broker, &pushed).await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lease_standby_takes_over_after_kill_of_the_leader_and_nothing_is_lost() {
    leader_killed(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_kv_lease_standby_takes_over_after_kill_of_the_leader_and_nothing_is_lost() {
    leader_killed(Kind::Nats).await;
}

async fn lease_broker_lost(kind: Kind) {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let broker = Broker::start(kind);
    let mut lease_broker = Broker::start(kind);
    let sink = Confirmations::new(broker.sink().await);
    let a = start(&emulator, sink.clone(), lease(kind, &lease_broker).await);
    wait_role(&a, Role::Leader).await;
    let b = start(&emulator, sink.clone(), lease(kind, &lease_broker).await);
    emulator.set_push_rate(NonZeroU32::new(1_000));
    let pushed = emulator
        .push_many(1_500, &EventSpec::chat_message("hello"))
        .unwrap();
    emulator.wait_for_acks(200, WAIT).await.unwrap();

    // The lease broker dies: nobody can renew, so the leader must close before its lease
    // could expire (at most a TTL after its last renewal, which was before the kill).
    lease_broker.kill();
    let killed_at = Instant::now();
    emulator.wait_for_all_closed(WAIT).await.unwrap();
    let closed_at = emulator.with_report(|r| r.connections[0].closed_at.unwrap());
    assert!(
        closed_at < killed_at + TTL,
        "closed {:?} after the kill, past the TTL",
        closed_at - killed_at
    );
    wait_role(&a, Role::Standby).await;
    assert_eq!(b.handle.status().role, Role::Standby);
    assert!(
        !a.task.is_finished() && !b.task.is_finished(),
        "both wait as standbys"
    );

    // The lease broker comes back: one instance leads again and the rest is relayed.
    lease_broker.restart();
    emulator.wait_for_acks(1_500, WAIT).await.unwrap();
    let leaders = [&a, &b]
        .iter()
        .filter(|i| i.handle.status().role == Role::Leader)
        .count();
    assert_eq!(leaders, 1);
    for instance in [a, b] {
        instance.handle.stop();
        instance.task.await.unwrap().unwrap();
    }
    assert_never_two_connections(&emulator);
    assert_all_accepted(&emulator, &pushed);
    assert_stored_once(&broker, &pushed).await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_its_redis_lease_closes_before_it_expires() {
    lease_broker_lost(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_its_nats_kv_lease_closes_before_it_expires() {
    lease_broker_lost(Kind::Nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_leader_goes_back_to_standby_instead_of_exiting() {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let broker = Broker::start(Kind::Redis);
    let sink = Confirmations::new(broker.sink().await);
    let a = start(&emulator, sink, lease(Kind::Redis, &broker).await);
    wait_role(&a, Role::Leader).await;
    emulator.wait_for_connections(1, WAIT).await.unwrap();

    // Another client of the same app connects: the platform replaces the relay's connection.
    let credentials = emulator.credentials().clone();
    let other = Client::builder(credentials.app_id(), credentials.app_secret().clone())
        .endpoint(emulator.url())
        .handler(|_event| async { Ok::<(), String>(()) })
        .build()
        .unwrap();
    let other_handle = other.handle();
    let other_task = tokio::spawn(other.run());
    emulator.wait_for_connections(2, WAIT).await.unwrap();
    wait_role(&a, Role::Standby).await;
    assert!(
        !a.task.is_finished(),
        "a replaced relay with a lease keeps running"
    );
    emulator
        .wait_for(|r| r.connections[0].closed_at.is_some(), WAIT)
        .await
        .unwrap();

    other_handle.stop();
    let _ = other_task.await.unwrap();
    // After resting a TTL it asks for the lease again and reconnects.
    wait_role(&a, Role::Leader).await;
    emulator.wait_for_connections(3, WAIT).await.unwrap();
    a.handle.stop();
    a.task.await.unwrap().unwrap();
    emulator.shutdown().await;
}

//! A server that stops reading (its acks pile up) on every runtime (issue 8 items 2 and 3):
//! the client pauses reading once its unconfirmed writes reach the core's bound, so it handles
//! a bounded number of events beyond what the server has read; the connection is declared dead
//! by the write timer only, `write_timeout` after the writes stuck, not sooner; the client
//! reconnects, and every event ends up acked and handled exactly once.
//!
//! The server's socket has a small receive buffer (`SO_RCVBUF` 4 KiB) and advertises a small
//! segment size (`TCP_MAXSEG` 1 KiB): on loopback the client's kernel would otherwise size its
//! send buffer from the 64 KiB MSS, to megabytes of acks taken and never read. What the kernels
//! may still hold is in [`KERNEL_SLACK`].

use std::collections::HashSet;
use std::time::{Duration, Instant};

use open_event_core::connection::{DisconnectCause, MAX_UNCONFIRMED_WRITES, Notice};
use open_event_emulator::server::ServerConfig;
use open_event_emulator::{Emulator, EmulatorOptions};
use open_event_tests::runtime_tests;
use open_event_tests::runtimes::{Behaviour, ClientSpec, EARLY, Runtime, WAIT, fresh_seed, start};

/// Events pushed: more than the client may take while the server does not read.
const EVENTS: u32 = 20_000;

/// Events pushed at a time.
const CHUNK: u32 = 500;

/// `max_in_flight` and `read_backlog`.
const FLOW: (usize, usize) = (64, 64);

/// Acks that may sit between the client's socket and the server's WebSocket layer, written by
/// the client (confirmed as flushed), never read by the server: the client's send buffer (sized
/// from the 1 KiB segments: tens of KiB; 256 KiB allowed), the server's receive buffer (doubled
/// by the kernel) and what its WebSocket layer read ahead (at most tungstenite's 128 KiB read
/// buffer), at about 60 bytes per ack frame.
const KERNEL_SLACK: usize = (256 * 1024 + 2 * 4096 + 128 * 1024) / 60;

const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

async fn a_server_that_stops_reading_pauses_the_client_then_the_write_timer_reconnects(
    runtime: Runtime,
) {
    let config = ServerConfig::generated(fresh_seed());
    let options = EmulatorOptions::new(config)
        .recv_buffer(4096)
        .max_segment(1024);
    let emu = Emulator::start(options).await.expect("the emulator starts");
    let spec = ClientSpec {
        flow: Some(FLOW),
        // Every event of the run fits: the redelivery of the acks lost in the socket buffers
        // is suppressed whatever their number.
        dedup_capacity: Some(2 * EVENTS as usize),
        write_timeout: WRITE_TIMEOUT,
        // The server's silence during our own pause is not held against it anyway; keep the
        // liveness check out of the way of the write timer.
        pong_timeout: Duration::from_secs(30),
        ..ClientSpec::for_emulator(&emu)
    };
    let mut client = start(runtime, &spec);
    client.wait_open().await;

    // The server stops reading after the first ack it reads, far longer than the write timeout.
    emu.stall_reading(Duration::from_secs(60)).unwrap();
    let stalled_at = Instant::now();
    // Pushed in chunks (each push makes the server send; it does not wait for acks), and
    // the handler count followed until the write timer declares the connection dead.
    let mut nonces = Vec::new();
    let mut handled_before_drop = 0;
    let dropped_at = loop {
        if nonces.len() < EVENTS as usize {
            nonces.extend(emu.push_many(CHUNK, &Behaviour::Ok.event()).unwrap());
        }
        let dropped = client
            .notices_timed()
            .into_iter()
            .find_map(|n| match n.notice {
                Notice::Disconnected(cause) => Some((n.at, cause)),
                _ => None,
            });
        if let Some((at, cause)) = dropped {
            assert_eq!(
                cause,
                DisconnectCause::WriteTimeout(WRITE_TIMEOUT),
                "[{runtime}] the connection may only die by the write timer"
            );
            break at;
        }
        handled_before_drop = client.handled().len();
        assert!(
            stalled_at.elapsed() < WAIT + WRITE_TIMEOUT,
            "[{runtime}] not dropped within {:?}; handled {handled_before_drop}; the server \
             read {} acks; client stats {:?}",
            WAIT + WRITE_TIMEOUT,
            emu.report().connections[0].acks,
            client.stats()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let read_by_server = emu.report().connections[0].acks;
    let bound = read_by_server as usize + MAX_UNCONFIRMED_WRITES + FLOW.0 + FLOW.1 + KERNEL_SLACK;
    assert!(
        handled_before_drop <= bound,
        "[{runtime}] handled {handled_before_drop} events while the server read {read_by_server} \
         acks (bound {bound}): reading did not pause"
    );
    assert!(
        handled_before_drop < EVENTS as usize,
        "[{runtime}] every event was taken while the server did not read"
    );
    let lived = dropped_at - stalled_at;
    assert!(
        lived + EARLY >= WRITE_TIMEOUT,
        "[{runtime}] declared dead {lived:?} after the server stopped reading, before the \
         write timeout {WRITE_TIMEOUT:?}"
    );

    // The next connection is read: the rest is pushed, everything is acked, each event
    // handled once.
    let rest = EVENTS - nonces.len() as u32;
    nonces.extend(emu.push_many(rest, &Behaviour::Ok.event()).unwrap());
    emu.wait_for(|r| r.ack_counts.accepted >= u64::from(EVENTS), WAIT * 2)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "[{runtime}] not every event was acked: {} of {EVENTS}",
                emu.report().ack_counts.accepted
            )
        });
    let handled = client.handled();
    let distinct: HashSet<&String> = handled.iter().collect();
    assert_eq!(distinct.len(), nonces.len(), "[{runtime}] lost events");
    assert_eq!(
        handled.len(),
        nonces.len(),
        "[{runtime}] handled {} times for {} events",
        handled.len(),
        nonces.len()
    );
    assert!(client.stats().reconnects >= 1, "[{runtime}]");
    assert_eq!(client.stop_and_join().await, Ok(()), "[{runtime}]");
}

runtime_tests!(a_server_that_stops_reading_pauses_the_client_then_the_write_timer_reconnects);

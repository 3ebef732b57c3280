//! `open-event-blocking` with `inline_handlers(true)`: handlers run on the IO thread (the
//! thread that called `run`), in arrival order, every event is acked; a handler that runs long
//! sends the deliveries after it to the workers.

use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use open_event_emulator::server::EventSpec;
use open_event_tests::runtimes::{WAIT, emulator};

/// What the handler saw: the nonce and the thread it ran on, in call order.
type Calls = Arc<Mutex<Vec<(String, ThreadId)>>>;

/// Starts a blocking client with inline handlers on its own thread; the handler records each
/// call and sleeps `slow` for the event whose data is `"slow"`. Returns the run thread's id.
fn start(
    emu: &open_event_emulator::runner::EmulatorHandle,
    calls: &Calls,
    slow: Duration,
) -> (
    open_event_blocking::ClientHandle,
    thread::JoinHandle<()>,
    ThreadId,
) {
    let recorded = Arc::clone(calls);
    let client = open_event_blocking::Client::builder(
        emu.credentials().app_id(),
        emu.credentials().app_secret().clone(),
    )
    .endpoint(emu.url())
    .seed(3)
    .inline_handlers(true)
    .handler(move |event| {
        recorded
            .lock()
            .unwrap()
            .push((event.nonce.clone(), thread::current().id()));
        if event.data == r#""slow""# {
            thread::sleep(slow);
        }
        Ok::<(), std::io::Error>(())
    })
    .build()
    .unwrap();
    let handle = client.handle();
    let thread = thread::spawn(move || client.run().unwrap());
    let id = thread.thread().id();
    (handle, thread, id)
}

fn event(data: &str) -> EventSpec {
    EventSpec::new("kso.app_chat", "create", data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_handlers_run_on_the_io_thread_in_arrival_order() {
    let emu = emulator(|s| s).await;
    let calls = Calls::default();
    let (handle, thread, io_thread) = start(&emu, &calls, Duration::ZERO);
    emu.wait_for_connections(1, WAIT).await.unwrap();
    let pushed = emu.push_many(300, &event(r#"{"n":1}"#)).unwrap();
    emu.wait_for(|r| r.ack_counts.accepted >= 300, WAIT)
        .await
        .unwrap();
    handle.stop();
    thread.join().unwrap();
    let calls = calls.lock().unwrap();
    let nonces: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(nonces, pushed, "called once each, in arrival order");
    assert!(
        calls.iter().all(|(_, t)| *t == io_thread),
        "every handler ran on the IO thread"
    );
    assert_eq!(emu.report().ack_counts.accepted, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_slow_inline_handler_the_next_ones_run_on_workers() {
    let emu = emulator(|s| s).await;
    let calls = Calls::default();
    let (handle, thread, io_thread) = start(&emu, &calls, Duration::from_millis(20));
    emu.wait_for_connections(1, WAIT).await.unwrap();
    let slow = emu.push_event(event(r#""slow""#)).unwrap();
    emu.wait_for(|r| r.ack_counts.accepted >= 1, WAIT)
        .await
        .unwrap();
    let later = emu.push_many(20, &event(r#"{"n":2}"#)).unwrap();
    emu.wait_for(|r| r.ack_counts.accepted >= 21, WAIT)
        .await
        .unwrap();
    handle.stop();
    thread.join().unwrap();
    let calls = calls.lock().unwrap();
    assert_eq!(calls[0], (slow, io_thread), "the first ran inline");
    assert_eq!(calls.len(), 21);
    for (nonce, ran_on) in &calls[1..] {
        assert!(later.contains(nonce));
        assert_ne!(
            *ran_on, io_thread,
            "{nonce} ran on a worker after the slow one"
        );
    }
}

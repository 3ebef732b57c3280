//! `--runtime async-std` and `--runtime smol`: open-event-async-std (built on async-io) under
//! either executor.

use std::sync::Arc;

use open_event_async_std::{Client, Handler};

use super::{App, ClientSpec, Finished, build_failure, run_armed};
use crate::failure::Failure;
use crate::stopper::Stopper;

/// Which executor drives the client's future.
#[derive(Debug, Clone, Copy)]
pub(super) enum Executor {
    /// `async_std::task::block_on` (async-std is discontinued upstream).
    AsyncStd,
    /// `smol::block_on`.
    Smol,
}

pub(super) fn run(
    spec: &ClientSpec,
    app: Arc<dyn App>,
    stopper: &Stopper,
    executor: Executor,
) -> Result<Finished, Failure> {
    let credentials = &spec.credentials;
    let notices = Arc::clone(&app);
    let ready = Arc::clone(&app);
    let client = Client::builder(credentials.app_id(), credentials.app_secret().clone())
        .settings(&spec.settings)
        .dispatcher(
            spec.filter
                .dispatcher(Handler::new(move |event| Arc::clone(&app).handle(event))),
        )
        .on_notice(move |notice| notices.notice(notice))
        .build()
        .map_err(build_failure)?;
    ready.built();
    Ok(run_armed(client.handle(), stopper, || match executor {
        Executor::AsyncStd => ::async_std::task::block_on(client.run()),
        Executor::Smol => smol::block_on(client.run()),
    }))
}

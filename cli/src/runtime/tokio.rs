//! `--runtime tokio`: open-event-tokio on a tokio multi-thread runtime.

use std::sync::Arc;

use open_event_tokio::{Client, Handler};

use super::{App, ClientSpec, Finished, build_failure, run_armed};
use crate::failure::Failure;
use crate::stopper::Stopper;

pub(super) fn run(
    spec: &ClientSpec,
    app: Arc<dyn App>,
    stopper: &Stopper,
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
    let runtime = ::tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("openevent-tokio")
        .enable_all()
        .build()
        .map_err(|err| Failure::other(format!("cannot start the tokio runtime: {err}")))?;
    Ok(run_armed(client.handle(), stopper, || {
        runtime.block_on(client.run())
    }))
}

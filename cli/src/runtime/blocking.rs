//! `--runtime blocking`: open-event-blocking on plain threads. The shared handler future runs
//! to completion on the worker thread that took the event.

use std::sync::Arc;

use open_event_blocking::{Client, Handler};

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
        .dispatcher(spec.filter.dispatcher(Handler::new(move |event| {
            async_io::block_on(Arc::clone(&app).handle(event))
        })))
        .on_notice(move |notice| notices.notice(notice))
        .build()
        .map_err(build_failure)?;
    ready.built();
    Ok(run_armed(client.handle(), stopper, || client.run()))
}

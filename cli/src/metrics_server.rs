//! `--metrics ADDR`: one small HTTP/1 server (hyper, on its own thread and current-thread
//! tokio runtime, so it runs the same beside every client runtime) with
//!
//! - `GET /metrics`: every series of the process in the Prometheus text format
//!   (`metrics-exporter-prometheus` as the `metrics` recorder; the client's series are listed
//!   in `open_event_transport::metrics`);
//! - `GET /healthz`, `GET /readyz`: 200 or 503 with a one-line reason, as the command's
//!   [`Probes`] decide.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use open_event_transport::metrics::{HANDLER_DURATION, HANDLER_DURATION_BUCKETS};
use tokio::sync::oneshot;

use crate::failure::Failure;
use crate::probes::Probes;
use crate::{address, duration};

/// `--metrics` (every command that serves them).
#[derive(Debug, Clone, Args)]
pub(crate) struct MetricsArgs {
    /// Serve Prometheus metrics on http://ADDR/metrics, with /healthz and /readyz (HOST:PORT;
    /// port 0 picks a free port, printed at startup).
    #[arg(long, value_name = "ADDR", value_parser = address::resolve, help_heading = "Metrics and health")]
    pub(crate) metrics: Option<SocketAddr>,
}

/// `--metrics` and `--health-grace` (the commands with a platform connection).
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientMetricsArgs {
    #[command(flatten)]
    pub(crate) serve: MetricsArgs,

    /// How long /healthz stays 200 while not connected: after the connection was lost, or
    /// after the start before the first connect.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, default_value = "30s", help_heading = "Metrics and health")]
    pub(crate) health_grace: Duration,
}

/// How often the recorder's histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The running server; dropping it stops it.
pub(crate) struct MetricsServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Installs the Prometheus recorder (once per process), binds `addr` and serves on a
    /// thread of its own.
    pub(crate) fn start(addr: SocketAddr, probes: Arc<dyn Probes>) -> Result<Self, Failure> {
        let handle = recorder()?;
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|err| {
                Failure::other(format!(
                    "cannot serve metrics on {addr} ({err}); pick another --metrics address"
                ))
            })?;
        let bound = listener
            .local_addr()
            .map_err(|err| Failure::other(err.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| Failure::other(format!("cannot start the metrics server: {err}")))?;
        let (shutdown, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("openevent-metrics".into())
            .spawn(move || runtime.block_on(serve(listener, handle, probes, stopped)))
            .map_err(|err| Failure::other(format!("cannot start the metrics server: {err}")))?;
        Ok(Self {
            addr: bound,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The status line for stderr.
    pub(crate) fn describe(&self) -> String {
        format!(
            "metrics on http://{}/metrics (health: /healthz, /readyz)",
            self.addr
        )
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The process's Prometheus recorder, installed as the `metrics` recorder on first use.
fn recorder() -> Result<PrometheusHandle, Failure> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(HANDLER_DURATION.to_owned()),
            &HANDLER_DURATION_BUCKETS,
        )
        .map_err(|err| Failure::other(format!("metrics: {err}")))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|err| Failure::other(format!("metrics: {err}")))?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Accepts connections until `stopped`.
async fn serve(
    listener: std::net::TcpListener,
    handle: PrometheusHandle,
    probes: Arc<dyn Probes>,
    mut stopped: oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    // The recorder holds histogram samples until an upkeep folds them into the buckets: keep
    // that memory bounded between scrapes.
    let mut upkeep = tokio::time::interval(UPKEEP_EVERY);
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            _ = upkeep.tick() => {
                handle.run_upkeep();
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // E.g. out of file descriptors: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let handle = handle.clone();
        let probes = Arc::clone(&probes);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = respond(&request, &handle, probes.as_ref());
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The answer to one request.
fn respond(
    request: &Request<Incoming>,
    handle: &PrometheusHandle,
    probes: &dyn Probes,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match request.uri().path() {
        "/metrics" => {
            probes.update_metrics();
            handle.run_upkeep();
            let mut response = text(StatusCode::OK, handle.render());
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/healthz" => verdict(&probes.liveness()),
        "/readyz" => verdict(&probes.readiness()),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; this server answers /metrics, /healthz and /readyz\n",
        ),
    }
}

fn verdict(verdict: &open_event_transport::health::Verdict) -> Response<Full<Bytes>> {
    let status = if verdict.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    text(status, format!("{}\n", verdict.reason))
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

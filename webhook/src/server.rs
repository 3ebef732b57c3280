//! The standalone server: hyper 1 HTTP/1.1 with keep-alive, a header read timeout (slowloris),
//! an optional path, and a graceful stop that lets running requests and handlers finish.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::service::{HttpResponse, Shared};

/// A bound standalone webhook server; [`Server::run`] it.
#[derive(Debug)]
pub struct Server {
    pub(crate) listener: TcpListener,
    pub(crate) shared: Arc<Shared>,
    pub(crate) path: Option<String>,
    pub(crate) header_timeout: Duration,
    pub(crate) stop: watch::Receiver<bool>,
}

impl Server {
    /// The address it listens on (the port chosen when bound to port 0).
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until [`crate::WebhookHandle::stop`]: then it stops accepting, answers new events
    /// on open connections with 503, and waits (up to the config's `drain_timeout`) for running
    /// requests and handlers to finish.
    ///
    /// # Errors
    /// Never after a successful bind; the `io::Result` is for future socket options.
    pub async fn run(self) -> io::Result<()> {
        let Self {
            listener,
            shared,
            path,
            header_timeout,
            mut stop,
        } = self;
        let path: Option<Arc<str>> = path.map(Into::into);
        let graceful = GracefulShutdown::new();
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true);
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(target: "open_event::webhook", %addr, "webhook server listening");
        }
        while !*stop.borrow() {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(err) => {
                            // Out of file descriptors and the like: pause instead of spinning.
                            tracing::warn!(target: "open_event::webhook", %err, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let path = path.clone();
                    let service = service_fn(move |request: http::Request<Incoming>| {
                        let shared = Arc::clone(&shared);
                        let path = path.clone();
                        async move {
                            if let Some(path) = path.as_deref()
                                && request.uri().path() != path
                            {
                                return Ok::<_, Infallible>(not_found(request.uri().path()));
                            }
                            Ok(shared.respond(request).await)
                        }
                    });
                    let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        if let Err(err) = connection.await {
                            tracing::debug!(target: "open_event::webhook", %peer, %err, "connection ended");
                        }
                    });
                }
                _ = stop.changed() => {}
            }
        }
        drop(listener);
        let drain = shared.lock().endpoint.config().drain_timeout();
        shared.lock().endpoint.close();
        let deadline = tokio::time::Instant::now() + drain;
        if tokio::time::timeout_at(deadline, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(target: "open_event::webhook", ?drain, "connections still open after the drain timeout");
        }
        // Handlers whose clients went away still run: wait for them too.
        loop {
            let idle = shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            let running = shared.lock().endpoint.in_flight();
            if running == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                tracing::warn!(target: "open_event::webhook", running, "handlers still running after the drain timeout");
                break;
            }
        }
        tracing::info!(target: "open_event::webhook", "webhook server stopped");
        Ok(())
    }
}

fn not_found(path: &str) -> HttpResponse {
    let shown: String = path.chars().take(64).collect();
    let body = serde_json::json!({
        "code": 404,
        "reason": "not_found",
        "msg": format!("no webhook at the path {shown}: post events to the configured path"),
    })
    .to_string();
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = http::StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

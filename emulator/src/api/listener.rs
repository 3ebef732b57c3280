//! The emulated API on loopback: the sans-IO [`ApiServer`] behind hyper's HTTP/1.1 server on
//! tokio.
//!
//! ```no_run
//! use open_event_emulator::api::{ApiEmulator, ApiEmulatorOptions, Fault};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let api = ApiEmulator::start(ApiEmulatorOptions::default()).await?;
//! println!("API base {} for app {:?}", api.base_url(), api.credentials());
//! api.fail_next(Fault::rate_limited(1), 1); // the next call gets a 429
//! // ... point a client at api.base_url(), then:
//! assert_eq!(api.report().faults_served, 1);
//! api.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use open_event_core::Credentials;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{ApiReport, ApiServer, ApiServerConfig, Fault};
use crate::EmulatorError;

/// The largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// Entry point of the loopback API: [`ApiEmulator::start`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ApiEmulator;

/// How to start an [`ApiEmulator`].
#[derive(Debug, Clone)]
pub struct ApiEmulatorOptions {
    server: ApiServerConfig,
    addr: SocketAddr,
}

impl Default for ApiEmulatorOptions {
    /// A made-up app (random credentials) on `127.0.0.1:0`.
    fn default() -> Self {
        let seed = fastrand::u64(..);
        Self::new(ApiServerConfig::new(Credentials::new(
            format!("AKEMU{:08X}", seed >> 32),
            format!("emu-secret-{seed:016x}"),
        )))
    }
}

impl ApiEmulatorOptions {
    /// Serves `server`'s app on `127.0.0.1:0`.
    pub fn new(server: ApiServerConfig) -> Self {
        Self {
            server,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }

    /// Listens on `addr` (port 0 picks a free port).
    #[must_use]
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }
}

impl ApiEmulator {
    /// Binds the listener and starts serving (needs a tokio runtime with IO enabled).
    ///
    /// # Errors
    /// [`EmulatorError::Bind`] when the address cannot be bound.
    pub async fn start(options: ApiEmulatorOptions) -> Result<ApiEmulatorHandle, EmulatorError> {
        let bind_error = |source| EmulatorError::Bind {
            addr: options.addr,
            source,
        };
        let listener = TcpListener::bind(options.addr).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let credentials = options.server.credentials.clone();
        let server = Arc::new(Mutex::new(ApiServer::new(
            options.server,
            fastrand::u64(..),
        )));
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&server)));
        Ok(ApiEmulatorHandle {
            server,
            addr,
            credentials,
            accept,
        })
    }
}

/// A running emulated API; dropping it stops the listener.
#[derive(Debug)]
pub struct ApiEmulatorHandle {
    server: Arc<Mutex<ApiServer>>,
    addr: SocketAddr,
    credentials: Credentials,
    accept: JoinHandle<()>,
}

impl ApiEmulatorHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base URL to configure a client with, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The app's credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// A copy of what the server saw so far.
    pub fn report(&self) -> ApiReport {
        self.lock().report().clone()
    }

    /// Every token issued so far, oldest first.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().issued_tokens()
    }

    /// Answers the next `count` requests of `fault.target` with `fault`.
    pub fn fail_next(&self, fault: Fault, count: u32) {
        self.lock().fail_next(fault, count);
    }

    /// Revokes every token issued so far (the next call with one gets 401).
    pub fn revoke_tokens(&self) {
        self.lock().revoke_tokens();
    }

    /// Stops listening; connections in progress end with it.
    pub async fn shutdown(mut self) {
        self.accept.abort();
        let _ = (&mut self.accept).await;
    }

    fn lock(&self) -> MutexGuard<'_, ApiServer> {
        self.server.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ApiEmulatorHandle {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, server: Arc<Mutex<ApiServer>>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors or similar: give the system a moment.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let server = Arc::clone(&server);
        let service = service_fn(move |request| serve(Arc::clone(&server), request));
        connections.spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn serve(
    server: Arc<Mutex<ApiServer>>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let response = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => {
            let body = body.to_bytes();
            let request = http::Request::from_parts(parts, body.as_ref());
            server
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .handle(SystemTime::now(), &request)
        }
        Err(_) => http::Response::builder()
            .status(413)
            .body(br#"{"code":41300,"msg":"the body is too large or broken"}"#.to_vec())
            .expect("a valid status"),
    };
    Ok(response.map(|body| Full::new(Bytes::from(body))))
}

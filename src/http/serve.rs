//! The HTTP server: accepts connections and serves the router on each, with
//! limits a public service needs. A client gets `server.header_read_timeout_secs`
//! to send its first request's headers and an idle keep-alive connection is
//! closed after `server.idle_timeout_secs`, so half-sent requests and
//! forgotten sockets cannot pile up; beyond `server.max_connections` a new
//! connection is answered 503 and closed, while those already open carry on.
//! On shutdown it stops accepting and lets the requests in flight finish.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::rt::{Sleep, Timer};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::error::{ApiError, ProblemType};

/// How long clients may take, and how many may be connected at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `stop` is raised, then waits for the
/// connections' requests in flight to finish.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let refusal = refusal_bytes();
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: let some close, then retry.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("http_connections_refused_total").increment(1);
            tokio::spawn(refuse(stream, refusal.clone()));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(ConnectionTimer::new(limits))
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(true);
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The answer for a connection beyond the cap: a 503 problem, then close.
fn refusal_bytes() -> Arc<[u8]> {
    let problem = ApiError::refused(
        ProblemType::Unavailable,
        "the server has as many connections as it takes; retry shortly",
    )
    .to_problem();
    let body = serde_json::to_vec(&problem).expect("a problem serialises");
    let mut bytes = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {}\r\nretry-after: 1\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n",
        super::error::PROBLEM_CONTENT_TYPE,
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&body);
    bytes.into()
}

async fn refuse(mut stream: TcpStream, refusal: Arc<[u8]>) {
    let answered = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&refusal).await?;
        stream.shutdown().await
    });
    let _ = answered.await;
}

/// hyper's header-read timer, one per connection. hyper waits for a
/// request's headers with one timer, whether the connection is new or idle
/// between keep-alive requests; this gives the first wait the header-read
/// timeout and every later one the idle timeout.
#[derive(Clone)]
struct ConnectionTimer {
    inner: TokioTimer,
    first: Arc<AtomicBool>,
    limits: Limits,
}

impl ConnectionTimer {
    fn new(limits: Limits) -> Self {
        ConnectionTimer {
            inner: TokioTimer::new(),
            first: Arc::new(AtomicBool::new(true)),
            limits,
        }
    }

    /// hyper asks for now + header-read timeout; after the first request
    /// the wait is an idle one.
    fn deadline(&self, asked: Instant) -> Instant {
        if self.first.swap(false, Ordering::Relaxed) {
            asked
        } else {
            asked - self.limits.header_read_timeout + self.limits.idle_timeout
        }
    }
}

impl Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.inner.sleep(duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.inner.sleep_until(self.deadline(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        self.inner.reset(sleep, self.deadline(new_deadline));
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }
}

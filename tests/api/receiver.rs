//! A webhook receiver on loopback: a real HTTP server that records every
//! request (headers, body, when) and answers as the test scripts it: a
//! status (with `Retry-After`, a `Location`), or a slow answer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use countersign::webhooks::signature::{SigningKey, verify};
use serde_json::Value;
use tokio::sync::Notify;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }

    pub fn webhook_id(&self) -> &str {
        self.header("webhook-id")
    }

    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap().to_owned()
    }

    /// Whether the signature verifies with `secret` (in Rust).
    pub fn signed_with(&self, secret: &str) -> bool {
        let key = SigningKey::from_secret(secret).unwrap();
        let timestamp: i64 = self.header("webhook-timestamp").parse().unwrap();
        verify(
            &key,
            self.webhook_id(),
            timestamp,
            self.body.as_bytes(),
            self.header("webhook-signature"),
        )
    }
}

/// How the receiver answers the next request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    StatusWithBody(u16, &'static str),
    RetryAfter(u16, &'static str),
    Redirect(u16, String),
    /// Answers 200 after this long (the request counts as received at once).
    Slow(Duration),
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    /// When the script is used up: this, or 200.
    otherwise: Mutex<Option<Reply>>,
    arrived: Notify,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub base: String,
    shared: Arc<Shared>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(receive).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("{base}/hooks/countersign"),
            base,
            shared,
        }
    }

    /// Answers the next requests like this, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    /// Answers like this once the script is used up (instead of 200).
    pub fn otherwise(&self, reply: Reply) {
        *self.shared.otherwise.lock().unwrap() = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits (bounded) until at least `n` requests arrived; answers them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        self.wait_for_within(n, Duration::from_secs(30)).await
    }

    pub async fn wait_for_within(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let arrived = self.shared.arrived.notified();
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "expected {n} webhooks, got {}: {:?}",
                received.len(),
                received.iter().map(|r| r.body.clone()).collect::<Vec<_>>()
            );
            let _ = tokio::time::timeout(left, arrived).await;
        }
    }

    /// The requests of one event type, in arrival order.
    pub fn of_type(&self, event_type: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.event_type() == event_type)
            .collect()
    }
}

async fn receive(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let reply = shared
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or_else(|| shared.otherwise.lock().unwrap().clone());
    shared.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    shared.arrived.notify_waiters();
    if let Some(Reply::Slow(wait)) = &reply {
        tokio::time::sleep(*wait).await;
    }
    let status = |code: u16| StatusCode::from_u16(code).unwrap();
    match reply {
        None | Some(Reply::Slow(_)) => (StatusCode::OK, "ok").into_response(),
        Some(Reply::Status(code)) => (status(code), format!("answered {code}")).into_response(),
        Some(Reply::StatusWithBody(code, body)) => (status(code), body).into_response(),
        Some(Reply::RetryAfter(code, after)) => (status(code), [("retry-after", after)], "busy").into_response(),
        Some(Reply::Redirect(code, location)) => (status(code), [("location", location)], "moved").into_response(),
    }
}

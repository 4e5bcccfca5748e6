//! What the server allows a client: how long it may take to send a request's
//! headers, how long an idle keep-alive connection stays open, how many
//! connections are open at once, and how often one token may call. Timing
//! bounds here are generous: they check that a connection is closed, not how
//! fast.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (or `within` passes);
/// answers what it sent and how long it took to close.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(within.saturating_sub(started.elapsed()), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&received).into_owned(), Some(started.elapsed()));
            }
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), None),
        }
    }
}

const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: countersign\r\n\r\n";

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(|s| {
        s.server.header_read_timeout_secs = 1;
        s.server.idle_timeout_secs = 30;
    })
    .await;
    let mut stream = connect(&app).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: count").await.unwrap();
    let (_, closed_after) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let closed_after = closed_after.expect("the server closes a connection that never finishes its headers");
    assert!(closed_after >= Duration::from_millis(900), "{closed_after:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_and_not_before() {
    let app = TestApp::spawn_with(|s| {
        s.server.header_read_timeout_secs = 1;
        s.server.idle_timeout_secs = 3;
    })
    .await;
    let mut stream = connect(&app).await;
    stream.write_all(REQUEST).await.unwrap();
    let mut first = [0u8; 15];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200 OK");
    // Longer than the header timeout: an idle connection gets the idle one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stream.write_all(REQUEST).await.unwrap();
    let (received, closed_after) = read_until_closed(&mut stream, Duration::from_secs(15)).await;
    assert!(
        received.contains("HTTP/1.1 200 OK"),
        "still open after 1.5 s: {received}"
    );
    let closed_after = closed_after.expect("the idle connection is closed");
    assert!(closed_after >= Duration::from_millis(2500), "{closed_after:?}");
}

#[tokio::test]
async fn beyond_the_connection_cap_new_connections_get_503_while_open_ones_carry_on() {
    let app = TestApp::spawn_with(|s| s.server.max_connections = 3).await;
    let agent = app.create_user("agent").await;
    // The test client keeps its one connection alive between requests.
    agent.me().await.expect(200);
    let mut idle = vec![connect(&app).await, connect(&app).await];
    let mut beyond = connect(&app).await;
    let (refused, closed) = read_until_closed(&mut beyond, Duration::from_secs(5)).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("urn:countersign:problem:unavailable"), "{refused}");
    assert!(closed.is_some(), "and closed");
    // The connection already open still serves, authenticated.
    agent.me().await.expect(200);
    // Once one closes, a new connection is served again.
    idle.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fresh = connect(&app).await;
    fresh.write_all(REQUEST).await.unwrap();
    let mut status = [0u8; 15];
    fresh.read_exact(&mut status).await.unwrap();
    assert_eq!(&status, b"HTTP/1.1 200 OK");
}

#[tokio::test]
async fn a_token_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not() {
    let app = TestApp::spawn_with(|s| {
        s.server.rate_limit_per_second = 1;
        // Enough for the admin to create the two people (four calls).
        s.server.rate_limit_burst = 5;
    })
    .await;
    let (busy, other) = (app.create_user("agent").await, app.create_user("agent").await);
    for _ in 0..5 {
        busy.me().await.expect(200);
    }
    let limited = busy.me().await.expect_problem(429, None);
    assert_eq!(limited.problem().problem_type, "urn:countersign:problem:rate-limited");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    other.me().await.expect(200);
    // Nothing was written for the refused call, and filing is limited too.
    busy.file(json!({})).await.expect_problem(429, None);
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 0);
}

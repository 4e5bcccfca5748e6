//! The real binary with its embedded PostgreSQL: first start, a second
//! process adopting the running cluster, `kill -9` and restart with the data
//! kept, the postmaster killed under a running service and started again by
//! it, and a clean SIGTERM stop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use uuid::Uuid;

const BINARY: &str = env!("CARGO_BIN_EXE_countersign");

fn command(base: &Path, addr: &str) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_remove("DATABASE_URL")
        .env_remove("COUNTERSIGN_DATABASE__URL")
        .env("COUNTERSIGN_DATABASE__DATA_DIR", base.join("data"))
        .env("COUNTERSIGN_SERVER__ADDR", addr)
        .env("RUST_LOG", "info")
        .current_dir(base)
        .stdin(Stdio::null());
    command
}

fn serve(base: &Path, addr: &str, run: u32) -> Child {
    let log = std::fs::File::create(base.join(format!("service-{run}.log"))).unwrap();
    command(base, addr)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the binary starts")
}

async fn readiness(addr: &str) -> Option<u16> {
    countersign::webhooks::sender::install_tls_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Polls readiness until it answers `status` (a child process, not our own
/// server: there is nothing to await but its port).
async fn wait_for_readiness(addr: &str, status: u16, base: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if readiness(addr).await == Some(status) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs: Vec<String> = std::fs::read_dir(base)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    panic!("readiness never answered {status}; logs:\n{}", logs.join("\n---\n"));
}

async fn me(addr: &str, token: &str) -> u16 {
    crate::helpers::client()
        .get(format!("http://{addr}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Creates an agent as the admin; answers its id.
async fn post_employee(addr: &str, token: &str, email: &str) -> String {
    let answer = crate::helpers::client()
        .post(format!("http://{addr}/v1/employees"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "name": "Kept", "email": email, "role": "agent" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
    let body: serde_json::Value = answer.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn get_status(addr: &str, token: &str, path: &str) -> u16 {
    crate::helpers::client()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

struct Cleanup(PathBuf, Vec<u32>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in &self.1 {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory of its own for one run of the binary (reachable by the
/// `postgres` user when we are root), removed with what it started by the
/// `Cleanup`; and a free address to listen on.
fn scratch() -> (PathBuf, String, Cleanup) {
    let base = std::env::temp_dir().join(format!("countersign-bin-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cleanup = Cleanup(base.clone(), vec![]);
    (base, crate::helpers::free_local_addr(), cleanup)
}

#[tokio::test]
async fn the_embedded_database_survives_kill_9_and_restarts() {
    let (base, addr, mut cleanup) = scratch();

    let mut first = serve(&base, &addr, 1);
    cleanup.1.push(first.id());
    wait_for_readiness(&addr, 200, &base).await;
    assert!(
        base.join("data/PG_VERSION").is_file(),
        "the cluster lives under the data dir"
    );

    // A second process (the CLI) adopts the running cluster and leaves it up.
    let output = command(&base, &addr)
        .args(["bootstrap-admin", "--email", "root@example.com", "--name", "Root"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "the token alone on stdout: {stdout:?}");
    let token = stdout.trim().to_owned();
    assert_eq!(me(&addr, &token).await, 200, "the printed token works");
    assert_eq!(
        readiness(&addr).await,
        Some(200),
        "the CLI left the service's cluster running"
    );

    first.kill().unwrap();
    first.wait().unwrap();
    let mut second = serve(&base, &addr, 2);
    cleanup.1.push(second.id());
    wait_for_readiness(&addr, 200, &base).await;
    assert_eq!(me(&addr, &token).await, 200, "data is kept across a kill -9");

    // An acknowledged write, then the postmaster dies under the service:
    // the service starts it again on its own, and the write is still there.
    let created = post_employee(&addr, &token, "kept@example.com").await;
    let postmaster = || {
        let pid = std::fs::read_to_string(base.join("data/postmaster.pid")).unwrap_or_default();
        pid.lines().next().unwrap_or("").trim().to_owned()
    };
    let killed = postmaster();
    assert!(Command::new("kill").args(["-9", &killed]).status().unwrap().success());
    let restarting = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_for_readiness(&addr, 200, &base).await;
    let restarted_after = restarting.elapsed();
    assert!(restarted_after < Duration::from_secs(30), "{restarted_after:?}");
    assert_ne!(postmaster(), killed, "a new postmaster");
    assert_eq!(
        get_status(&addr, &token, &format!("/v1/employees/{created}")).await,
        200
    );
    post_employee(&addr, &token, "after@example.com").await;
    assert_eq!(get_status(&addr, &token, "/healthz").await, 200);
    let log = std::fs::read_to_string(base.join("service-2.log")).unwrap();
    assert!(log.contains("exited unexpectedly"), "the log says why: {log}");

    assert!(
        Command::new("kill")
            .args(["-TERM", &second.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the service did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.code().is_some(),
        "it exited rather than being killed: {status:?}"
    );
}

#[tokio::test]
async fn a_bad_setting_stops_the_binary_with_a_message_naming_it() {
    let base = std::env::temp_dir();
    let output = command(&base, "not-an-address").arg("migrate").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.addr"), "{stderr}");
}

#[tokio::test]
async fn ctrl_c_at_a_terminal_lets_the_request_in_flight_finish_then_stops_the_database_cleanly() {
    use std::os::unix::process::CommandExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (base, addr, mut cleanup) = scratch();
    // Its own process group, as a shell gives a foreground job: Ctrl-C at
    // a terminal sends SIGINT to the whole group.
    let log = std::fs::File::create(base.join("service-1.log")).unwrap();
    let mut service = command(&base, &addr)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    cleanup.1.push(service.id());
    wait_for_readiness(&addr, 200, &base).await;
    let output = command(&base, &addr)
        .args(["bootstrap-admin", "--email", "root@example.com", "--name", "Root"])
        .output()
        .unwrap();
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    // A request in flight: its body half sent when Ctrl-C comes.
    let body = r#"{"name":"Late","email":"late@example.com","role":"agent"}"#;
    let (first, rest) = body.split_at(20);
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/employees HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // SAFETY: kill(2) to the process group the test started.
    assert_eq!(unsafe { libc::kill(-(service.id() as i32), libc::SIGINT) }, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the request in flight finished: {answer}"
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = service.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the service did not stop on Ctrl-C");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0), "a clean stop");
    let postgres_log = std::fs::read_to_string(base.join("data/postgres.log")).unwrap();
    assert!(postgres_log.contains("database system is shut down"), "{postgres_log}");
    assert!(
        !postgres_log.contains("terminating connection due to administrator command"),
        "PostgreSQL stopped only after the service let go of it: {postgres_log}"
    );
}

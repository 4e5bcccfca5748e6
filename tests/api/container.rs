//! The container, as far as it can be checked without a Docker engine: the
//! image's runtime stage (its user, its config, its health check) read from
//! the Dockerfile; the health check command run under dash, as the image's
//! HEALTHCHECK would; the production configuration refusing to start
//! without a database; and `countersign demo` giving working tokens.

use std::path::Path;
use std::process::{Command, Stdio};

use tokio::io::AsyncWriteExt;

use crate::helpers::TestApp;

const BINARY: &str = env!("CARGO_BIN_EXE_countersign");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The lines of the Dockerfile's last stage (the image that runs).
fn runtime_stage() -> Vec<String> {
    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).unwrap();
    let lines: Vec<String> = dockerfile.lines().map(str::to_owned).collect();
    let last_from = lines.iter().rposition(|line| line.starts_with("FROM ")).unwrap();
    lines[last_from..].to_vec()
}

#[test]
fn the_image_runs_unprivileged_with_the_production_settings_and_checks_readiness_through_the_binary() {
    let stage = runtime_stage();
    let has = |prefix: &str| stage.iter().any(|line| line.trim_start().starts_with(prefix));
    assert!(has("USER countersign"), "{stage:?}");
    assert!(
        stage.iter().any(|line| line.contains("useradd --system")),
        "an unprivileged system user"
    );
    assert!(has("COPY config/production.toml config/local.toml"));
    assert!(has("COPY config/default.toml config/default.toml"));
    let healthcheck = stage.iter().find(|line| line.starts_with("HEALTHCHECK")).unwrap();
    assert!(
        healthcheck.contains(r#"CMD ["countersign", "healthcheck"]"#),
        "{healthcheck}"
    );
    assert!(
        !healthcheck.contains("/dev/tcp") && !healthcheck.contains("sh"),
        "no shell: {healthcheck}"
    );
    // It listens where the image says it does.
    let production = std::fs::read_to_string(Path::new(ROOT).join("config/production.toml")).unwrap();
    assert!(production.contains(r#"addr = "0.0.0.0:8080""#));
    assert!(has("EXPOSE 8080"));
    let compose = std::fs::read_to_string(Path::new(ROOT).join("docker-compose.yml")).unwrap();
    assert_eq!(
        compose.matches("restart: unless-stopped").count(),
        2,
        "both services restart"
    );
}

/// Runs `countersign healthcheck` under dash (the image has no bash) for a
/// service said to listen on `addr`; answers the exit code.
fn healthcheck_under_dash(addr: &str) -> Option<i32> {
    if !Path::new("/bin/dash").exists() {
        eprintln!("SKIPPED: /bin/dash is not installed, so the health check runs under /bin/sh");
    }
    let shell = if Path::new("/bin/dash").exists() {
        "/bin/dash"
    } else {
        "/bin/sh"
    };
    Command::new(shell)
        .args(["-c", &format!("exec '{BINARY}' healthcheck")])
        .env("COUNTERSIGN_SERVER__ADDR", addr)
        .env_remove("DATABASE_URL")
        .current_dir(ROOT)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .code()
}

#[tokio::test]
async fn the_healthcheck_command_passes_for_a_ready_service_and_fails_otherwise() {
    let app = TestApp::spawn().await;
    // The command blocks; the service runs on this test's runtime meanwhile.
    let check = |addr: String| tokio::task::spawn_blocking(move || healthcheck_under_dash(&addr));
    let ready = app.address.trim_start_matches("http://").to_owned();
    assert_eq!(check(ready).await.unwrap(), Some(0));

    // Nothing listening.
    assert_eq!(check(crate::helpers::free_local_addr()).await.unwrap(), Some(1));

    // Listening but not ready: a server that answers /readyz with 503.
    let unready = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = unready.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = unready.accept().await {
            let _ = stream
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    assert_eq!(check(addr.to_string()).await.unwrap(), Some(1));
}

/// A working directory laid out as the image's: config/local.toml is
/// production.toml.
fn production_layout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::copy(
        Path::new(ROOT).join("config/production.toml"),
        dir.path().join("config/local.toml"),
    )
    .unwrap();
    dir
}

#[test]
fn the_production_configuration_refuses_to_start_without_a_database_url() {
    let dir = production_layout();
    let output = Command::new(BINARY)
        .arg("migrate")
        .env_remove("DATABASE_URL")
        .env_remove("COUNTERSIGN_DATABASE__URL")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("DATABASE_URL") && stderr.contains("database.url"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("apt-get"),
        "no advice to install packages in a container: {stderr}"
    );
    assert!(!dir.path().join("data").exists(), "no embedded database was started");
}

#[test]
fn the_production_configuration_refuses_to_start_without_a_sealing_key() {
    let dir = production_layout();
    let output = Command::new(BINARY)
        .arg("migrate")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env_remove("COUNTERSIGN_SECRETS__KEY")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("secrets.key") && stderr.contains("COUNTERSIGN_SECRETS__KEY"),
        "{stderr}"
    );
    assert!(!dir.path().join("data").exists(), "no key file was written");
}

#[tokio::test]
async fn the_demo_command_creates_a_team_whose_tokens_work() {
    let app = TestApp::spawn().await;
    use sqlx::ConnectOptions;
    let url = app.pool.connect_options().to_url_lossy().to_string();
    let run = || {
        let output = Command::new(BINARY)
            .arg("demo")
            .env("DATABASE_URL", &url)
            .current_dir(ROOT)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let printed = run();
    let token_of = |printed: &str, variable: &str| {
        printed
            .lines()
            .find_map(|line| line.strip_prefix(&format!("export {variable}=")))
            .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{variable} in {printed}"))
    };
    assert!(printed.starts_with("export COUNTERSIGN_URL=http://"), "{printed}");
    let ada = token_of(&printed, "ADA");
    let me = app.get("/v1/me", Some(&ada)).await.expect(200);
    assert_eq!(
        (me.body["role"].as_str(), me.body["team"].as_str()),
        (Some("agent"), Some("billing"))
    );
    let mona = token_of(&printed, "MONA");
    assert_eq!(app.get("/v1/me", Some(&mona)).await.expect(200).body["role"], "manager");
    // Again: fresh tokens, the same four people.
    let again = run();
    assert_ne!(token_of(&again, "ADA"), ada);
    assert_eq!(
        app.count("SELECT count(*) FROM employees WHERE email LIKE '%@demo.example.com'")
            .await,
        4
    );
}

//! An embedded PostgreSQL cluster run from the local installation.
//!
//! The service initialises a cluster under its data directory on first start,
//! runs `postgres` as a direct child on a Unix socket (no TCP port), reuses the
//! cluster on later starts and stops it on shutdown. As root it runs the
//! cluster as the unprivileged `postgres` user, because `initdb` refuses root.
//! The child gets a parent-death signal, so a `kill -9` of the service never
//! leaves a postmaster holding the data directory; a stale `postmaster.pid`
//! is recognised and does not block the next start. It runs in a session of
//! its own, so a terminal's Ctrl-C reaches only the service, which drains its
//! requests and then stops the cluster itself. If the postmaster dies under
//! a running service, a supervisor starts it again (with backoff) and says
//! why in the log; `status()` tells readiness and liveness how it stands.
//!
//! This module owns processes and files; it runs no SQL beyond "are you up".

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// The most bytes a Unix socket path may have on Linux, less the terminator.
const MAX_SOCKET_PATH: usize = 107;
const SOCKET_FILE: &str = ".s.PGSQL.5432";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a smart shutdown may wait for sessions to end before a fast one.
const SESSIONS_END_TIMEOUT: Duration = Duration::from_secs(5);
/// Restart attempts in a row after which the service reports itself
/// unhealthy, so that whatever runs it restarts it (it keeps trying too).
const RESTARTS_BEFORE_UNHEALTHY: u32 = 10;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "no PostgreSQL installation found (looked for initdb and postgres via database.pg_bin_dir, \
         pg_config --bindir, PATH and /usr/lib/postgresql/*/bin). Install the server \
         (Debian/Ubuntu: `apt-get install postgresql`), or set DATABASE_URL to use an existing server"
    )]
    NotInstalled,
    #[error(
        "running as root, the embedded database must run as the unprivileged `postgres` user, \
         which does not exist. Create it (`useradd --system postgres`), run as another user, \
         or set DATABASE_URL"
    )]
    NoUnprivilegedUser,
    #[error(
        "the embedded database runs as user `{user}`, who cannot reach {dir} because {blocker} \
         is closed to them. Set database.data_dir (COUNTERSIGN_DATABASE__DATA_DIR) to a directory \
         that user can reach, such as /var/lib/countersign, or set DATABASE_URL"
    )]
    Unreachable {
        user: String,
        dir: PathBuf,
        blocker: PathBuf,
    },
    #[error(
        "{dir} exists but is not a PostgreSQL data directory (no PG_VERSION); move it away or choose another database.data_dir"
    )]
    NotADataDirectory { dir: PathBuf },
    #[error("{action} failed: {detail}")]
    Command { action: String, detail: String },
    #[error("PostgreSQL did not become ready within {seconds} s; its log {log} ends with:\n{tail}")]
    NotReady { seconds: u64, log: PathBuf, tail: String },
    #[error("embedded database I/O on {path}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> EmbeddedError + '_ {
    move |source| EmbeddedError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Options for starting a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub data_dir: PathBuf,
    /// Directory holding `initdb` and `postgres`; found automatically if `None`.
    pub bin_dir: Option<PathBuf>,
    /// Throwaway clusters (tests) trade durability for speed.
    pub ephemeral: bool,
    pub max_connections: u32,
    /// More server settings, as `name=value` (the benchmark loads
    /// `pg_stat_statements` this way).
    pub settings: Vec<String>,
}

/// The unprivileged account the cluster runs as when we are root.
#[derive(Debug, Clone)]
struct ClusterUser {
    name: String,
    uid: u32,
    gid: u32,
}

/// How the cluster stands, for readiness and liveness.
#[derive(Debug, Default)]
pub struct ClusterStatus {
    down: AtomicBool,
    gave_up: AtomicBool,
    restarts: AtomicU64,
}

impl ClusterStatus {
    /// The postmaster died and is being started again.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Restarting keeps failing: the service should be restarted whole.
    pub fn is_failing(&self) -> bool {
        self.gave_up.load(Ordering::Relaxed)
    }

    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
}

/// Everything needed to start the postmaster (again).
#[derive(Debug)]
struct Launch {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    user: Option<ClusterUser>,
    options: ClusterOptions,
}

/// A running (or adopted) embedded cluster.
#[derive(Debug)]
pub struct EmbeddedCluster {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    pid: Arc<AtomicI32>,
    /// True when we started the postmaster and so must stop it.
    owned: bool,
    /// Raised for the current postmaster when it exits.
    exited: Arc<Mutex<Option<tokio::sync::watch::Receiver<bool>>>>,
    stopping: Arc<AtomicBool>,
    status: Arc<ClusterStatus>,
    supervisor: Option<tokio::task::JoinHandle<()>>,
}

impl EmbeddedCluster {
    /// Initialises the cluster if needed and starts it, or adopts a live
    /// postmaster that already serves this data directory.
    pub async fn start(options: &ClusterOptions) -> Result<Self, EmbeddedError> {
        let bin_dir = match &options.bin_dir {
            Some(dir) => dir.clone(),
            None => find_bin_dir().ok_or(EmbeddedError::NotInstalled)?,
        };
        if !bin_dir.join("initdb").is_file() || !bin_dir.join("postgres").is_file() {
            return Err(EmbeddedError::NotInstalled);
        }
        let user = cluster_user()?;
        fs::create_dir_all(&options.data_dir).map_err(io_error(&options.data_dir))?;
        let data_dir = fs::canonicalize(&options.data_dir).map_err(io_error(&options.data_dir))?;
        if let Some(user) = &user {
            check_reachable(&data_dir, user)?;
            chown(&data_dir, user)?;
        }
        fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o700)).map_err(io_error(&data_dir))?;

        if !data_dir.join("PG_VERSION").is_file() {
            let is_empty = fs::read_dir(&data_dir).map_err(io_error(&data_dir))?.next().is_none();
            if !is_empty {
                return Err(EmbeddedError::NotADataDirectory { dir: data_dir });
            }
            initdb(&bin_dir, &data_dir, user.as_ref(), options.ephemeral)?;
        }

        let socket_dir = socket_dir_for(&data_dir, user.as_ref())?;
        if let Some(cluster) = Self::adopt_running(&data_dir, &socket_dir).await? {
            return Ok(cluster);
        }

        let launch = Arc::new(Launch {
            bin_dir,
            data_dir: data_dir.clone(),
            socket_dir: socket_dir.clone(),
            user,
            options: options.clone(),
        });
        let (pid, exited) = launch.start_postmaster().await?;
        tracing::info!(data_dir = %data_dir.display(), pid, "embedded PostgreSQL started");
        let mut cluster = EmbeddedCluster {
            data_dir,
            socket_dir,
            pid: Arc::new(AtomicI32::new(pid)),
            owned: true,
            exited: Arc::new(Mutex::new(Some(exited))),
            stopping: Arc::default(),
            status: Arc::default(),
            supervisor: None,
        };
        cluster.supervisor = Some(tokio::spawn(supervise(
            launch,
            cluster.pid.clone(),
            cluster.exited.clone(),
            cluster.stopping.clone(),
            cluster.status.clone(),
        )));
        Ok(cluster)
    }

    /// A postmaster already running on this data directory (another replica
    /// on the same machine, or one still shutting down after a crash).
    async fn adopt_running(data_dir: &Path, socket_dir: &Path) -> Result<Option<Self>, EmbeddedError> {
        let pid_file = data_dir.join("postmaster.pid");
        let Some(pid) = read_postmaster_pid(&pid_file) else {
            return Ok(None);
        };
        if !is_postgres_process(pid) {
            // Stale: left by a killed run, or the pid now belongs to another
            // program. Postgres would refuse to start while the pid is alive.
            tracing::info!(pid, "removing stale postmaster.pid");
            let _ = fs::remove_file(&pid_file);
            return Ok(None);
        }
        let candidate = EmbeddedCluster {
            data_dir: data_dir.to_owned(),
            socket_dir: socket_dir.to_owned(),
            pid: Arc::new(AtomicI32::new(pid)),
            owned: false,
            exited: Arc::default(),
            stopping: Arc::default(),
            status: Arc::default(),
            supervisor: None,
        };
        if candidate.answers().await {
            tracing::info!(pid, "adopting the PostgreSQL already running on this data directory");
            return Ok(Some(candidate));
        }
        // Alive but not answering: most likely shutting down after its parent
        // died. Wait for it to go, then start our own.
        let deadline = Instant::now() + STOP_TIMEOUT;
        while is_postgres_process(pid) && Instant::now() < deadline {
            if candidate.answers().await {
                return Ok(Some(candidate));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if is_postgres_process(pid) {
            return Err(EmbeddedError::Command {
                action: "starting the embedded database".into(),
                detail: format!(
                    "postgres process {pid} holds {} and does not answer",
                    data_dir.display()
                ),
            });
        }
        Ok(None)
    }

    async fn answers(&self) -> bool {
        answers(&self.socket_dir).await
    }

    /// How to connect to a database of this cluster.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        connect_options(&self.socket_dir, database)
    }

    /// How the cluster stands (always up for an adopted one: not ours to watch).
    pub fn status(&self) -> Arc<ClusterStatus> {
        self.status.clone()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory of the cluster's Unix socket (`psql -h`, `pgbench -h`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    pub fn pid(&self) -> i32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// Smart shutdown (SIGTERM) first: the service has closed its
    /// connections, and this lets their sessions finish ending rather than
    /// be cut off; then fast (SIGINT: open transactions roll back, data is
    /// flushed) if sessions linger, then immediate (SIGQUIT).
    /// An adopted cluster belongs to whoever started it and is left running.
    pub async fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.abort();
            let _ = supervisor.await;
        }
        if !self.owned {
            return;
        }
        let exited = self.exited.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut exited) = exited else { return };
        let pid = self.pid();
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        if !wait_for_exit(&mut exited, SESSIONS_END_TIMEOUT).await {
            tracing::debug!(pid, "sessions still open; fast shutdown");
            // SAFETY: as above.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
        if !wait_for_exit(&mut exited, STOP_TIMEOUT).await {
            tracing::warn!(pid, "PostgreSQL did not stop in time; sending SIGQUIT");
            // SAFETY: as above.
            unsafe {
                libc::kill(pid, libc::SIGQUIT);
            }
            wait_for_exit(&mut exited, STOP_TIMEOUT).await;
        }
        tracing::info!("embedded PostgreSQL stopped");
    }
}

fn connect_options(socket_dir: &Path, database: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(socket_dir)
        .username("postgres")
        .database(database)
}

async fn answers(socket_dir: &Path) -> bool {
    match PgConnection::connect_with(&connect_options(socket_dir, "postgres")).await {
        Ok(connection) => {
            let _ = connection.close().await;
            true
        }
        Err(_) => false,
    }
}

impl Launch {
    /// Starts the postmaster as our child and waits until it answers.
    async fn start_postmaster(&self) -> Result<(i32, tokio::sync::watch::Receiver<bool>), EmbeddedError> {
        let log_path = self.data_dir.join("postgres.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;
        let mut command = Command::new(self.bin_dir.join("postgres"));
        command
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-k")
            .arg(&self.socket_dir)
            .args(["-c", "listen_addresses="])
            .args(["-c", "unix_socket_permissions=0700"])
            .args(["-c", &format!("max_connections={}", self.options.max_connections)])
            .args(
                self.options
                    .settings
                    .iter()
                    .flat_map(|setting| ["-c", setting.as_str()]),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io_error(&log_path))?)
            .stderr(log);
        if self.options.ephemeral {
            command.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        }
        if let Some(user) = &self.user {
            command.uid(user.uid).gid(user.gid);
        }
        let parent = std::process::id() as i32;
        // SAFETY: only async-signal-safe calls between fork and exec. A
        // session of its own keeps a terminal's Ctrl-C (sent to the whole
        // foreground process group) from reaching the postmaster: the
        // service stops it after draining its requests. SIGINT asks the
        // postmaster for a fast shutdown when we die, however we die.
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    // The parent died before the signal was armed.
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let (pid, exited) = spawn_supervised(command)?;
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if answers(&self.socket_dir).await {
                return Ok((pid, exited));
            }
            if *exited.borrow() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(EmbeddedError::NotReady {
            seconds: started.elapsed().as_secs(),
            log: log_path,
            tail: log_tail(&self.data_dir.join("postgres.log")),
        })
    }
}

/// Starts the postmaster again whenever it dies while the service runs.
async fn supervise(
    launch: Arc<Launch>,
    pid: Arc<AtomicI32>,
    exited: Arc<Mutex<Option<tokio::sync::watch::Receiver<bool>>>>,
    stopping: Arc<AtomicBool>,
    status: Arc<ClusterStatus>,
) {
    loop {
        let current = exited.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(mut current) = current else { return };
        let _ = current.wait_for(|done| *done).await;
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        status.down.store(true, Ordering::Relaxed);
        tracing::error!(
            pid = pid.load(Ordering::Relaxed),
            "the embedded PostgreSQL exited unexpectedly; starting it again (its log: {})",
            launch.data_dir.join("postgres.log").display()
        );
        let mut attempt: u32 = 0;
        loop {
            // Backends of the dead postmaster take a moment to notice and
            // leave; until they have, a new postmaster refuses to start.
            let backoff = Duration::from_millis(200u64 << attempt.min(5)).min(Duration::from_secs(5));
            tokio::time::sleep(backoff).await;
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            let stale = launch.data_dir.join("postmaster.pid");
            if read_postmaster_pid(&stale).is_some_and(|old| !is_postgres_process(old)) {
                let _ = fs::remove_file(&stale);
            }
            match launch.start_postmaster().await {
                Ok((new_pid, new_exited)) => {
                    pid.store(new_pid, Ordering::Relaxed);
                    *exited.lock().unwrap_or_else(|e| e.into_inner()) = Some(new_exited);
                    status.restarts.fetch_add(1, Ordering::Relaxed);
                    status.down.store(false, Ordering::Relaxed);
                    status.gave_up.store(false, Ordering::Relaxed);
                    metrics::counter!("embedded_postgres_restarts_total").increment(1);
                    tracing::warn!(
                        pid = new_pid,
                        attempt = attempt + 1,
                        "the embedded PostgreSQL is running again"
                    );
                    break;
                }
                Err(error) => {
                    attempt += 1;
                    tracing::warn!(attempt, error = %error, "starting the embedded PostgreSQL again failed; retrying");
                    if attempt >= RESTARTS_BEFORE_UNHEALTHY {
                        status.gave_up.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

/// True when the child exited within `timeout`.
async fn wait_for_exit(exited: &mut tokio::sync::watch::Receiver<bool>, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, exited.wait_for(|done| *done)).await,
        Ok(Ok(_))
    )
}

/// Spawns the child from a thread that lives exactly as long as the child:
/// the parent-death signal follows the spawning *thread*, so a short-lived
/// runtime worker must not be the parent.
fn spawn_supervised(mut command: Command) -> Result<(i32, tokio::sync::watch::Receiver<bool>), EmbeddedError> {
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let (exit_tx, exit_rx) = tokio::sync::watch::channel(false);
    std::thread::Builder::new()
        .name("embedded-postgres".into())
        .spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = pid_tx.send(Ok(child.id() as i32));
                let _ = child.wait();
                let _ = exit_tx.send(true);
            }
            Err(error) => {
                let _ = pid_tx.send(Err(error));
            }
        })
        .map_err(|e| EmbeddedError::Command {
            action: "spawning postgres".into(),
            detail: e.to_string(),
        })?;
    let pid = pid_rx
        .recv()
        .map_err(|e| EmbeddedError::Command {
            action: "spawning postgres".into(),
            detail: e.to_string(),
        })?
        .map_err(|e| EmbeddedError::Command {
            action: "spawning postgres".into(),
            detail: e.to_string(),
        })?;
    Ok((pid, exit_rx))
}

fn initdb(bin_dir: &Path, data_dir: &Path, user: Option<&ClusterUser>, ephemeral: bool) -> Result<(), EmbeddedError> {
    let mut command = Command::new(bin_dir.join("initdb"));
    command
        .arg("-D")
        .arg(data_dir)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
        .stdin(Stdio::null());
    if ephemeral {
        command.arg("--no-sync");
    }
    if let Some(user) = user {
        command.uid(user.uid).gid(user.gid);
    }
    let output = command.output().map_err(|e| EmbeddedError::Command {
        action: "running initdb".into(),
        detail: e.to_string(),
    })?;
    if !output.status.success() {
        return Err(EmbeddedError::Command {
            action: format!("initdb -D {}", data_dir.display()),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    tracing::info!(data_dir = %data_dir.display(), "initialised a new PostgreSQL cluster");
    Ok(())
}

/// The socket lives in the data directory unless that path is too long for a
/// Unix socket; then in a short private directory named after the data dir.
fn socket_dir_for(data_dir: &Path, user: Option<&ClusterUser>) -> Result<PathBuf, EmbeddedError> {
    if data_dir.as_os_str().len() + 1 + SOCKET_FILE.len() <= MAX_SOCKET_PATH {
        return Ok(data_dir.to_owned());
    }
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let dir = std::env::temp_dir().join(format!("countersign-pg-{}", &hex::encode(digest)[..16]));
    fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    if let Some(user) = user {
        chown(&dir, user)?;
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_error(&dir))?;
    Ok(dir)
}

/// `None` when we are not root and run the cluster as ourselves.
fn cluster_user() -> Result<Option<ClusterUser>, EmbeddedError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new("postgres").expect("no NUL in a literal");
    // SAFETY: getpwnam returns a pointer to static storage or null; we copy
    // the two fields we need before any other call.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(EmbeddedError::NoUnprivilegedUser);
    }
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Some(ClusterUser {
        name: "postgres".into(),
        uid,
        gid,
    }))
}

/// Every parent of the data directory must be traversable by the cluster's
/// user; a clone under a private home directory is not.
fn check_reachable(data_dir: &Path, user: &ClusterUser) -> Result<(), EmbeddedError> {
    for ancestor in data_dir.ancestors().skip(1) {
        let meta = fs::metadata(ancestor).map_err(io_error(ancestor))?;
        let mode = meta.mode();
        let traversable = if meta.uid() == user.uid {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !traversable {
            return Err(EmbeddedError::Unreachable {
                user: user.name.clone(),
                dir: data_dir.to_owned(),
                blocker: ancestor.to_owned(),
            });
        }
    }
    Ok(())
}

fn chown(path: &Path, user: &ClusterUser) -> Result<(), EmbeddedError> {
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)).map_err(io_error(path))
}

fn find_bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if has_server(&dir) {
            return Some(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|dir| has_server(dir))
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

fn read_postmaster_pid(pid_file: &Path) -> Option<i32> {
    let text = fs::read_to_string(pid_file).ok()?;
    text.lines().next()?.trim().parse().ok()
}

fn is_postgres_process(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| comm.trim_end().starts_with("postgres"))
        .unwrap_or(false)
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_data_dir_keeps_its_socket_inside() {
        let dir = Path::new("/var/lib/countersign/postgres");
        assert_eq!(socket_dir_for(dir, None).unwrap(), dir);
    }

    #[test]
    fn a_deep_data_dir_gets_a_short_stable_socket_dir() {
        let base = tempfile::tempdir().unwrap();
        let deep = base.path().join("a".repeat(60)).join("b".repeat(60));
        let socket = socket_dir_for(&deep, None).unwrap();
        assert_ne!(socket, deep);
        assert!(socket.join(SOCKET_FILE).as_os_str().len() <= MAX_SOCKET_PATH);
        assert_eq!(
            socket,
            socket_dir_for(&deep, None).unwrap(),
            "the same data dir, the same socket dir"
        );
    }

    #[test]
    fn a_pid_file_naming_no_postgres_process_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("postmaster.pid");
        fs::write(&pid_file, format!("{}\n/data\n", std::process::id())).unwrap();
        assert_eq!(read_postmaster_pid(&pid_file), Some(std::process::id() as i32));
        assert!(
            !is_postgres_process(std::process::id() as i32),
            "the test binary is not postgres"
        );
        assert_eq!(read_postmaster_pid(&dir.path().join("missing")), None);
    }

    #[test]
    fn a_private_parent_directory_is_reported_by_name() {
        let base = tempfile::tempdir().unwrap();
        let private = base.path().join("private");
        fs::create_dir(&private).unwrap();
        fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
        let data_dir = private.join("data");
        // A user that owns nothing here: only the "other" bits count.
        let stranger = ClusterUser {
            name: "stranger".into(),
            uid: 65_000,
            gid: 65_000,
        };
        match check_reachable(&data_dir, &stranger) {
            Err(EmbeddedError::Unreachable { blocker, .. }) => assert_eq!(blocker, private),
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }
}

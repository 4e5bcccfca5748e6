//! The connection pool, the embedded cluster and the SQL, one file per
//! aggregate. Functions take `&mut PgConnection` so callers compose them in
//! one transaction; nothing here decides a rule (that is `domain`).

pub mod audit;
pub mod availability;
pub mod embedded;
pub mod employees;
pub mod idempotency;
pub mod inbound;
pub mod integrations;
pub mod proposals;
pub mod routing;
pub mod seed;
pub mod standing_approvals;
pub mod tokens;
pub mod web;
pub mod webhooks;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Executor;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::config::Settings;
use crate::domain::employee::Role;
use crate::domain::integration::IntegrationKind;
use crate::domain::proposal::Status;
use embedded::{ClusterOptions, EmbeddedCluster};

/// Text columns that hold a domain enum are read by name: a name the enum
/// does not know is a decoding error, never a default. Queries pick the
/// type with an override, e.g. `p.status AS "status: Status"`.
macro_rules! text_enum {
    ($type:ty, $parse:path) => {
        impl sqlx::Type<sqlx::Postgres> for $type {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $type {
            fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                $parse(text).ok_or_else(|| format!("`{text}` is no {}", stringify!($type)).into())
            }
        }
    };
}

text_enum!(Status, Status::parse);
text_enum!(Role, Role::parse);
text_enum!(IntegrationKind, IntegrationKind::parse);

/// The migrations, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Where the database is: a server from configuration, or our own cluster.
pub struct Database {
    pub options: PgConnectOptions,
    pub cluster: Option<EmbeddedCluster>,
}

impl Database {
    /// Connects to the configured server, or starts the embedded cluster.
    pub async fn open(settings: &Settings) -> anyhow::Result<Database> {
        if let Some(url) = settings.database_url() {
            let options =
                PgConnectOptions::from_str(url).map_err(|e| anyhow::anyhow!("invalid setting `database.url`: {e}"))?;
            return Ok(Database { options, cluster: None });
        }
        let bin_dir = Some(settings.database.pg_bin_dir.trim())
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from);
        let cluster = EmbeddedCluster::start(&ClusterOptions {
            data_dir: settings.database.data_dir.clone(),
            bin_dir,
            ephemeral: false,
            max_connections: (settings.database.max_connections * 2 + 10).max(100),
            settings: Vec::new(),
        })
        .await?;
        let options = cluster.connect_options("postgres");
        Ok(Database {
            options,
            cluster: Some(cluster),
        })
    }

    pub async fn pool(&self, settings: &Settings) -> anyhow::Result<PgPool> {
        let pool = pool_options(settings).connect_with(self.options.clone()).await?;
        Ok(pool)
    }

    /// Stops the embedded cluster, if we started one.
    pub async fn close(self) {
        if let Some(cluster) = self.cluster {
            cluster.stop().await;
        }
    }
}

/// Pool settings. Each connection turns JIT compilation off: our statements
/// are short and prepared, and a generic plan's cost estimate can start
/// ~200 ms of compiling for a query that runs in under a millisecond
/// (measured on the proposal list with 300k rows: 220 ms with JIT, 0.3 ms
/// without). A `SET` rather than a startup option, so poolers such as
/// PgBouncer that refuse startup options still work.
pub fn pool_options(settings: &Settings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.database.max_connections)
        .acquire_timeout(Duration::from_secs(settings.database.acquire_timeout_secs))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("SET jit = off").await?;
                Ok(())
            })
        })
}

/// Migration 13 as one build shipped it, with what migration 18 now adds
/// written into it: the SHA-384 sqlx recorded for it on databases that
/// build migrated.
const WEB_SESSIONS_AS_EDITED: &str =
    "2b88626ea5dac8a31dd2b9ae2e0296e927f86c46b1ea8de41e8bc294319e1f78f4f8f54ebf358c7c906937d8324afdf0";

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    accept_edited_web_sessions(pool).await?;
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// A database migrated by the build whose migration 13 already held the
/// token column has that schema, under another checksum: record 13's own
/// checksum (migration 18 then finds its work done), so it migrates like
/// any other instead of refusing the changed migration.
async fn accept_edited_web_sessions(pool: &PgPool) -> anyhow::Result<()> {
    let Some(shipped) = MIGRATOR.iter().find(|m| m.version == 20261126000013) else {
        return Ok(());
    };
    let recorded: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if recorded {
        sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND checksum = $3")
            .bind(shipped.checksum.as_ref())
            .bind(shipped.version)
            .bind(hex::decode(WEB_SESSIONS_AS_EDITED)?)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// For a service that does not migrate at start: the database must already
/// have every migration this build knows.
pub async fn check_migrated(pool: &PgPool) -> anyhow::Result<()> {
    let newest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_err(|e| anyhow::anyhow!("reading the applied migrations: {e}"))?;
    anyhow::ensure!(
        applied.unwrap_or(0) >= newest,
        "the database is at migration {} but this build needs {newest}: run `countersign migrate` \
         as the database owner (database.migrate_at_start is false)",
        applied.unwrap_or(0)
    );
    Ok(())
}

/// What the service's runtime role may do, table by table: read, add and
/// change what the rules allow, and never own a table, so it cannot switch
/// off the triggers that keep the log append-only (only an owner can). The
/// audit tables take inserts only; the queue gives up a row once chained.
pub const RUNTIME_GRANTS: &[(&str, &str)] = &[
    ("_sqlx_migrations", "SELECT"),
    ("employees", "SELECT, INSERT, UPDATE"),
    ("integrations", "SELECT, INSERT, UPDATE"),
    ("api_tokens", "SELECT, INSERT, UPDATE"),
    ("proposals", "SELECT, INSERT, UPDATE"),
    ("signatures", "SELECT, INSERT"),
    ("proposal_outcomes", "SELECT, INSERT"),
    ("proposal_reviews", "SELECT, INSERT"),
    ("review_backlog", "SELECT, INSERT, DELETE"),
    ("idempotency_keys", "SELECT, INSERT, UPDATE, DELETE"),
    ("audit_events", "SELECT, INSERT"),
    ("audit_unchained", "SELECT, INSERT, DELETE"),
    ("audit_chain", "SELECT, INSERT"),
    ("webhook_endpoints", "SELECT, INSERT, UPDATE"),
    ("webhook_messages", "SELECT, INSERT, DELETE"),
    ("webhook_deliveries", "SELECT, INSERT, UPDATE, DELETE"),
    ("webhook_attempts", "SELECT, INSERT, DELETE"),
    ("inbound_deliveries", "SELECT, INSERT, UPDATE, DELETE"),
    ("web_sessions", "SELECT, INSERT, UPDATE, DELETE"),
    ("sign_in_links", "SELECT, INSERT, UPDATE, DELETE"),
    ("agent_availability", "SELECT, INSERT, UPDATE"),
    ("cosign_requests", "SELECT, INSERT"),
    ("routing_steps", "SELECT, INSERT"),
    ("solo_approvals", "SELECT, INSERT"),
    // UPDATE to retire (the schema allows nothing else), and for the
    // `FOR SHARE` a filing holds on the one it uses.
    ("standing_approvals", "SELECT, INSERT, UPDATE"),
    // The stored report figures: a changed period is dropped (its cells,
    // slots and pairs go with it) and built again, never edited.
    ("report_periods", "SELECT, INSERT, DELETE"),
    ("report_cells", "SELECT, INSERT"),
    ("report_slots", "SELECT, INSERT"),
    ("report_pairs", "SELECT, INSERT"),
    ("report_rollup_state", "SELECT, INSERT, UPDATE, DELETE"),
];

/// A connection of its own (outside the pool) holding the session-level
/// advisory lock `key`, for work one replica at a time does: the lock lasts
/// as long as the connection. `None` when another session holds it.
pub async fn hold_advisory_lock(pool: &PgPool, key: i64) -> sqlx::Result<Option<sqlx::PgConnection>> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect_with(&pool.connect_options()).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut conn)
        .await?;
    if !locked {
        conn.close().await?;
        return Ok(None);
    }
    Ok(Some(conn))
}

/// Grants `role` exactly the runtime privileges (revoking any others on
/// these tables). Run as the owner, after every `migrate`.
pub async fn grant_runtime_role(pool: &PgPool, role: &str) -> anyhow::Result<()> {
    let valid = !role.is_empty()
        && role.len() <= 63
        && role.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    anyhow::ensure!(
        valid,
        "--role must be a lowercase PostgreSQL role name, e.g. countersign_app"
    );
    let mut tx = pool.begin().await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(role)
        .fetch_one(&mut *tx)
        .await?;
    anyhow::ensure!(
        exists,
        "role {role} does not exist: CREATE ROLE {role} LOGIN PASSWORD '…' first"
    );
    tx.execute(sqlx::AssertSqlSafe(format!(
        "GRANT USAGE ON SCHEMA public TO \"{role}\""
    )))
    .await?;
    for (table, privileges) in RUNTIME_GRANTS {
        tx.execute(sqlx::AssertSqlSafe(format!(
            "REVOKE ALL ON TABLE \"{table}\" FROM \"{role}\"; GRANT {privileges} ON TABLE \"{table}\" TO \"{role}\""
        )))
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

//! Typed settings, loaded in layers and validated before anything starts.
//!
//! Layers, last wins: the defaults compiled into the binary (the text of
//! `config/default.toml`), `config/default.toml` and `config/local.toml` in the
//! working directory when present, then `COUNTERSIGN_…` environment variables
//! and `DATABASE_URL`. This module reads files and the environment it is
//! given; it never connects to anything.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

use crate::domain::audit::ChainKeying;
use crate::domain::policy::{AmountThreshold, ApprovalPolicy, Category, MaterialTolerance};
use crate::webhooks::schedule::RetrySchedule;
use crate::webhooks::sender::SenderOptions;

const DEFAULTS: &str = include_str!("../config/default.toml");
const ENV_PREFIX: &str = "COUNTERSIGN";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid setting `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub log_format: LogFormat,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub proposals: ProposalSettings,
    pub audit: AuditSettings,
    pub webhooks: WebhookSettings,
    pub inbound: InboundSettings,
    pub secrets: SecretSettings,
    pub reports: ReportSettings,
    pub web: WebSettings,
    pub routing: RoutingSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("must be `pretty` or `json`, not `{other}`")),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub addr: String,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    pub shutdown_grace_secs: u64,
    pub header_read_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub max_connections: usize,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub embedded: bool,
    pub migrate_at_start: bool,
    pub data_dir: PathBuf,
    pub pg_bin_dir: String,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalSettings {
    pub pending_ttl_secs: u64,
    pub max_revisions: u32,
    pub default_required_cosigners: u32,
    pub declines_to_reject: u32,
    pub expiry_interval_secs: u64,
    pub categories: Vec<CategorySetting>,
    pub thresholds: Vec<ThresholdSetting>,
    pub peer_limits: BTreeMap<String, i64>,
    pub material_change: MaterialChangeSettings,
}

/// Which revisions keep the endorsements already given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialChangeSettings {
    pub keep_endorsements_on_decrease_percent: u32,
    pub keep_endorsements_on_resolution_typo_chars: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategorySetting {
    pub name: String,
    pub description: String,
    /// Proposals in this category must carry `amount_minor` + `currency`.
    #[serde(default)]
    pub moves_money: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSetting {
    pub currency: String,
    pub above_minor: i64,
    pub required_cosigners: u32,
    /// Signer groups that need an endorser each above this amount.
    #[serde(default)]
    pub required_groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    pub sequencer_interval_ms: u64,
    pub unchained_lag_secs: u64,
    pub chain_key: String,
    pub chain_key_since_seq: i64,
    pub verify_interval_secs: u64,
    pub full_check_interval_secs: u64,
    pub full_check_page_links: u64,
    pub head_export_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub allow_private_destinations: bool,
    pub connect_timeout_secs: u64,
    pub timeout_secs: u64,
    pub retry_schedule_secs: Vec<u64>,
    pub retry_jitter: f64,
    pub disable_after_failing_secs: u64,
    pub secret_overlap_secs: u64,
    pub max_in_flight: usize,
    pub max_in_flight_per_endpoint: usize,
    pub poll_interval_ms: u64,
    pub keep_response_bytes: usize,
    pub retention_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    pub pair_share_threshold: f64,
    pub pair_min_approvals: i64,
    pub fast_cosign_secs: f64,
    pub max_concurrent_exports: usize,
    pub export_timeout_secs: u64,
    pub work_mem_mb: u32,
    /// How often the worker stores the figures of settled days and months
    /// (`report_cells`); 0 stores none, and every report is computed live.
    pub rollup_interval_secs: u64,
}

/// The web pages' sessions and sign-in links.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub session_hours: u32,
    pub idle_minutes: u32,
    pub sign_in_link_minutes: u32,
    pub secure_cookies: SecureCookies,
    pub public_url: String,
    pub inbox_refresh_ms: u32,
}

impl WebSettings {
    /// The address people open the service at, for links given out (sign-in
    /// links): `web.public_url`, or the address the request (its `headers`)
    /// was sent to.
    pub fn public_address(&self, headers: &axum::http::HeaderMap) -> String {
        let configured = self.public_url.trim_end_matches('/');
        if !configured.is_empty() {
            return configured.to_owned();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or("localhost");
        let https = headers
            .get("x-forwarded-proto")
            .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
        format!("{}://{host}", if https { "https" } else { "http" })
    }
}

/// Who is asked to co-sign, and when.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// An agent's "on shift" lapses after this long without activity.
    pub availability_idle_minutes: u32,
    /// How many peers on shift a new proposal asks first.
    pub first_ask: u32,
    /// From filing: when a reminder widens the circle, and when the team's
    /// managers are told.
    pub remind_after_secs: u64,
    pub escalate_after_secs: u64,
    /// How often the routing worker looks for proposals due a step.
    pub interval_ms: u64,
    /// Where a proposer may approve alone (none: nowhere, the default).
    pub act_alone: Vec<crate::domain::routing::ActAlone>,
}

impl RoutingSettings {
    pub fn schedule(&self) -> crate::domain::routing::Schedule {
        crate::domain::routing::Schedule {
            first_ask: self.first_ask as usize,
            remind_after: chrono::Duration::seconds(self.remind_after_secs as i64),
            escalate_after: chrono::Duration::seconds(self.escalate_after_secs as i64),
        }
    }
}

/// When the session cookie carries `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureCookies {
    /// When the request came over HTTPS (`X-Forwarded-Proto: https` from a
    /// proxy, or a `public_url` starting with `https://`).
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundSettings {
    pub timestamp_tolerance_secs: u64,
    pub keep_deliveries_days: u32,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    pub key: String,
    pub previous_keys: Vec<String>,
    pub key_file: PathBuf,
}

impl std::fmt::Debug for SecretSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSettings")
            .field("key", &if self.key.is_empty() { "" } else { "…" })
            .field("previous_keys", &self.previous_keys.len())
            .field("key_file", &self.key_file)
            .finish()
    }
}

impl WebhookSettings {
    pub fn retry_schedule(&self) -> RetrySchedule {
        RetrySchedule {
            delays: self
                .retry_schedule_secs
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            jitter: self.retry_jitter,
        }
    }

    pub fn sender_options(&self) -> SenderOptions {
        SenderOptions {
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            timeout: Duration::from_secs(self.timeout_secs),
            allow_private: self.allow_private_destinations,
            keep_body_bytes: self.keep_response_bytes,
        }
    }

    /// How long a worker holds a delivery it claimed: an attempt's whole
    /// timeout and time to record it. Past it, another worker may take it.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.timeout_secs + 10)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("webhooks.connect_timeout_secs", self.connect_timeout_secs),
            ("webhooks.timeout_secs", self.timeout_secs),
            ("webhooks.poll_interval_ms", self.poll_interval_ms),
            ("webhooks.disable_after_failing_secs", self.disable_after_failing_secs),
            ("webhooks.retention_days", u64::from(self.retention_days)),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.connect_timeout_secs > self.timeout_secs {
            return Err(invalid(
                "webhooks.connect_timeout_secs",
                "must not be longer than webhooks.timeout_secs",
            ));
        }
        if self.retry_schedule_secs.len() > 50 {
            return Err(invalid("webhooks.retry_schedule_secs", "must list at most 50 waits"));
        }
        if self.retry_schedule_secs.iter().any(|s| *s > 7 * 24 * 3600) {
            return Err(invalid(
                "webhooks.retry_schedule_secs",
                "each wait must be at most a week",
            ));
        }
        if !(0.0..=1.0).contains(&self.retry_jitter) {
            return Err(invalid("webhooks.retry_jitter", "must be between 0 and 1"));
        }
        if !(1..=1024).contains(&self.max_in_flight) {
            return Err(invalid("webhooks.max_in_flight", "must be between 1 and 1024"));
        }
        if !(1..=self.max_in_flight).contains(&self.max_in_flight_per_endpoint) {
            return Err(invalid(
                "webhooks.max_in_flight_per_endpoint",
                "must be between 1 and webhooks.max_in_flight",
            ));
        }
        if self.keep_response_bytes > 1 << 20 {
            return Err(invalid("webhooks.keep_response_bytes", "must be at most 1048576"));
        }
        Ok(())
    }
}

impl Settings {
    /// Loads from `./config` and the process environment, then validates.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(Path::new("config"), std::env::vars().collect())
    }

    /// Loads from `config_dir` and the given environment (tests pass their
    /// own map instead of changing the process environment), then validates.
    pub fn load_from(config_dir: &Path, env: HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut env: HashMap<String, String> = env
            .into_iter()
            .filter(|(key, value)| key.starts_with(ENV_PREFIX) || (key == "DATABASE_URL" && !value.is_empty()))
            .collect();
        // DATABASE_URL is the name every PostgreSQL tool knows; the longer,
        // more specific COUNTERSIGN_DATABASE__URL wins when both are set.
        if let Some(url) = env.remove("DATABASE_URL") {
            env.entry(format!("{ENV_PREFIX}_DATABASE__URL")).or_insert(url);
        }
        let settings: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::from(config_dir.join("default.toml")).required(false))
            .add_source(File::from(config_dir.join("local.toml")).required(false))
            .add_source(
                Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("webhooks.retry_schedule_secs")
                    .with_list_parse_key("secrets.previous_keys")
                    .source(Some(env.into_iter().collect())),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// How audit links are hashed: keyed when `audit.chain_key` is set.
    pub fn chain_keying(&self) -> ChainKeying {
        match self.audit.chain_key.trim() {
            "" => ChainKeying::plain(),
            key => ChainKeying::keyed(key.as_bytes(), self.audit.chain_key_since_seq),
        }
    }

    /// Fails fast, naming the setting, on any value the service cannot use.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server_addr()?;
        if self.server.request_timeout_secs == 0 {
            return Err(invalid("server.request_timeout_secs", "must be at least 1"));
        }
        if self.server.body_limit_bytes < 1024 {
            return Err(invalid("server.body_limit_bytes", "must be at least 1024"));
        }
        for (key, value) in [
            ("web.session_hours", self.web.session_hours),
            ("web.idle_minutes", self.web.idle_minutes),
            ("web.sign_in_link_minutes", self.web.sign_in_link_minutes),
            ("web.inbox_refresh_ms", self.web.inbox_refresh_ms),
            (
                "routing.availability_idle_minutes",
                self.routing.availability_idle_minutes,
            ),
            ("routing.first_ask", self.routing.first_ask),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        let routing = &self.routing;
        if routing.availability_idle_minutes < 2 {
            // Activity is written at most once a minute.
            return Err(invalid("routing.availability_idle_minutes", "must be at least 2"));
        }
        if !(1..=86_400).contains(&routing.remind_after_secs) {
            return Err(invalid("routing.remind_after_secs", "must be between 1 and 86400"));
        }
        if !(routing.remind_after_secs..=86_400).contains(&routing.escalate_after_secs) {
            return Err(invalid(
                "routing.escalate_after_secs",
                "must be between routing.remind_after_secs and 86400",
            ));
        }
        if !(50..=60_000).contains(&routing.interval_ms) {
            return Err(invalid("routing.interval_ms", "must be between 50 and 60000"));
        }
        let url = &self.web.public_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid("web.public_url", "must start with http:// or https://"));
        }
        if !(1..=3600).contains(&self.inbound.timestamp_tolerance_secs) {
            return Err(invalid(
                "inbound.timestamp_tolerance_secs",
                "must be between 1 and 3600",
            ));
        }
        if !(0.0..=1.0).contains(&self.reports.pair_share_threshold) {
            return Err(invalid("reports.pair_share_threshold", "must be between 0 and 1"));
        }
        if !(1..=64).contains(&self.reports.max_concurrent_exports) {
            return Err(invalid("reports.max_concurrent_exports", "must be between 1 and 64"));
        }
        if !(1..=4096).contains(&self.reports.work_mem_mb) {
            return Err(invalid("reports.work_mem_mb", "must be between 1 and 4096"));
        }
        if self.reports.export_timeout_secs == 0 {
            return Err(invalid("reports.export_timeout_secs", "must be at least 1"));
        }
        if self.reports.pair_min_approvals < 1 {
            return Err(invalid("reports.pair_min_approvals", "must be at least 1"));
        }
        if !self.reports.fast_cosign_secs.is_finite() || self.reports.fast_cosign_secs < 0.0 {
            return Err(invalid("reports.fast_cosign_secs", "must be 0 or more"));
        }
        if self.inbound.keep_deliveries_days == 0 {
            return Err(invalid("inbound.keep_deliveries_days", "must be at least 1"));
        }
        let key = self.audit.chain_key.trim();
        if !key.is_empty() && key.chars().count() < 32 {
            return Err(invalid(
                "audit.chain_key",
                "must be at least 32 characters (a random secret, e.g. `openssl rand -base64 32`)",
            ));
        }
        if self.audit.chain_key_since_seq < 1 {
            return Err(invalid("audit.chain_key_since_seq", "must be 1 or more"));
        }
        for (key, value) in [
            ("audit.verify_interval_secs", self.audit.verify_interval_secs),
            ("audit.full_check_interval_secs", self.audit.full_check_interval_secs),
            ("audit.full_check_page_links", self.audit.full_check_page_links),
            ("audit.head_export_interval_secs", self.audit.head_export_interval_secs),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.server.header_read_timeout_secs == 0 {
            return Err(invalid("server.header_read_timeout_secs", "must be at least 1"));
        }
        if self.server.idle_timeout_secs == 0 {
            return Err(invalid("server.idle_timeout_secs", "must be at least 1"));
        }
        if self.server.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        if self.server.rate_limit_per_second > 0 && self.server.rate_limit_burst == 0 {
            return Err(invalid(
                "server.rate_limit_burst",
                "must be at least 1 when server.rate_limit_per_second is set",
            ));
        }
        let url = self.database.url.trim();
        let is_postgres_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !url.is_empty() && !is_postgres_url {
            return Err(invalid(
                "database.url",
                "must start with postgres:// or postgresql:// (or be empty for the embedded database)",
            ));
        }
        if url.is_empty() && !self.database.embedded {
            return Err(invalid(
                "database.url",
                "is required here (set DATABASE_URL): this configuration runs no embedded database",
            ));
        }
        if !self.secrets.key.trim().is_empty() {
            crate::sealing::decode_key(&self.secrets.key).map_err(|message| invalid("secrets.key", message))?;
        } else if self.secrets.key_file.as_os_str().is_empty() {
            return Err(invalid(
                "secrets.key",
                "is required here (COUNTERSIGN_SECRETS__KEY, base64 of 32 random bytes: `openssl rand -base64 32`): \
                 this configuration keeps no key file",
            ));
        }
        for key in &self.secrets.previous_keys {
            crate::sealing::decode_key(key).map_err(|message| invalid("secrets.previous_keys", message))?;
        }
        if url.is_empty() && self.database.data_dir.as_os_str().is_empty() {
            return Err(invalid(
                "database.data_dir",
                "must not be empty when database.url is empty",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if self.database.acquire_timeout_secs == 0 {
            return Err(invalid("database.acquire_timeout_secs", "must be at least 1"));
        }
        if self.proposals.expiry_interval_secs == 0 {
            return Err(invalid("proposals.expiry_interval_secs", "must be at least 1"));
        }
        if self.audit.sequencer_interval_ms == 0 {
            return Err(invalid("audit.sequencer_interval_ms", "must be at least 1"));
        }
        self.webhooks.validate()?;
        self.approval_policy().map(|_| ())
    }

    pub fn server_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.addr.parse().map_err(|_| {
            invalid(
                "server.addr",
                format!("`{}` is not an address like 127.0.0.1:8080", self.server.addr),
            )
        })
    }

    /// The database URL, or `None` for the embedded cluster.
    pub fn database_url(&self) -> Option<&str> {
        Some(self.database.url.trim()).filter(|url| !url.is_empty())
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.server.request_timeout_secs)
    }

    /// The approval rules the settings describe, checked for consistency.
    pub fn approval_policy(&self) -> Result<ApprovalPolicy, ConfigError> {
        let p = &self.proposals;
        if p.pending_ttl_secs == 0 {
            return Err(invalid("proposals.pending_ttl_secs", "must be at least 1"));
        }
        if !(1..=10).contains(&p.default_required_cosigners) {
            return Err(invalid(
                "proposals.default_required_cosigners",
                "must be between 1 and 10",
            ));
        }
        if !(1..=1000).contains(&p.max_revisions) {
            return Err(invalid("proposals.max_revisions", "must be between 1 and 1000"));
        }
        if !(1..=10).contains(&p.declines_to_reject) {
            return Err(invalid("proposals.declines_to_reject", "must be between 1 and 10"));
        }
        if p.categories.is_empty() {
            return Err(invalid("proposals.categories", "at least one category is needed"));
        }
        let mut categories = Vec::with_capacity(p.categories.len());
        for (index, category) in p.categories.iter().enumerate() {
            let key = format!("proposals.categories[{index}].name");
            if !is_identifier(&category.name) {
                return Err(invalid(&key, "must be 1-64 lowercase letters, digits or underscores"));
            }
            if categories.iter().any(|c: &Category| c.name == category.name) {
                return Err(invalid(&key, format!("`{}` is listed twice", category.name)));
            }
            categories.push(Category {
                name: category.name.clone(),
                description: category.description.clone(),
                moves_money: category.moves_money,
            });
        }
        let mut thresholds = Vec::with_capacity(p.thresholds.len());
        for (index, threshold) in p.thresholds.iter().enumerate() {
            if !is_currency_code(&threshold.currency) {
                return Err(invalid(
                    &format!("proposals.thresholds[{index}].currency"),
                    "must be an ISO 4217 code such as EUR",
                ));
            }
            if threshold.above_minor < 0 {
                return Err(invalid(
                    &format!("proposals.thresholds[{index}].above_minor"),
                    "must not be negative",
                ));
            }
            if !(1..=10).contains(&threshold.required_cosigners) {
                return Err(invalid(
                    &format!("proposals.thresholds[{index}].required_cosigners"),
                    "must be between 1 and 10",
                ));
            }
            for group in &threshold.required_groups {
                if !crate::domain::employee::is_group_name(group) {
                    return Err(invalid(
                        &format!("proposals.thresholds[{index}].required_groups"),
                        "must name groups of 1-64 lowercase letters, digits or underscores",
                    ));
                }
            }
            if threshold.required_groups.len() > threshold.required_cosigners as usize {
                return Err(invalid(
                    &format!("proposals.thresholds[{index}].required_groups"),
                    "must not name more groups than required_cosigners",
                ));
            }
            thresholds.push(AmountThreshold {
                currency: threshold.currency.clone(),
                above_minor: threshold.above_minor,
                required_cosigners: threshold.required_cosigners,
                required_groups: threshold.required_groups.clone(),
            });
        }
        for (index, rule) in self.routing.act_alone.iter().enumerate() {
            let key = |field: &str| format!("routing.act_alone[{index}].{field}");
            let Some(category) = categories.iter().find(|c| c.name == rule.category) else {
                return Err(invalid(&key("category"), "must be one of proposals.categories"));
            };
            if rule.currency.as_deref().is_some_and(|code| !is_currency_code(code)) {
                return Err(invalid(&key("currency"), "must be an ISO 4217 code such as EUR"));
            }
            if rule.max_amount_minor.is_some_and(|max| max < 0) {
                return Err(invalid(&key("max_amount_minor"), "must not be negative"));
            }
            if category.moves_money && (rule.currency.is_none() || rule.max_amount_minor.is_none()) {
                return Err(invalid(
                    &key("max_amount_minor"),
                    "is required, with currency, for a category that moves money",
                ));
            }
        }
        for (currency, limit) in &p.peer_limits {
            let key = format!("proposals.peer_limits.{currency}");
            if !is_currency_code(currency) {
                return Err(invalid(&key, "must be keyed by an ISO 4217 code such as EUR"));
            }
            if *limit <= 0 {
                return Err(invalid(&key, "must be greater than zero"));
            }
        }
        let change = &p.material_change;
        if change.keep_endorsements_on_decrease_percent > 100 {
            return Err(invalid(
                "proposals.material_change.keep_endorsements_on_decrease_percent",
                "must be between 0 and 100",
            ));
        }
        if change.keep_endorsements_on_resolution_typo_chars > 20 {
            return Err(invalid(
                "proposals.material_change.keep_endorsements_on_resolution_typo_chars",
                "must be between 0 and 20",
            ));
        }
        Ok(ApprovalPolicy {
            tolerance: MaterialTolerance {
                amount_decrease_percent: change.keep_endorsements_on_decrease_percent,
                resolution_typo_chars: change.keep_endorsements_on_resolution_typo_chars,
            },
            default_required_cosigners: p.default_required_cosigners,
            declines_to_reject: p.declines_to_reject,
            pending_ttl: chrono::Duration::seconds(i64::try_from(p.pending_ttl_secs).unwrap_or(i64::MAX / 1000)),
            categories,
            thresholds,
            peer_limits: p.peer_limits.clone(),
            max_revisions: p.max_revisions,
        })
    }
}

fn is_identifier(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn dir_with_local(local: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("local.toml"), local).unwrap();
        dir
    }

    fn error_text(result: Result<Settings, ConfigError>) -> String {
        result.expect_err("settings should be refused").to_string()
    }

    #[test]
    fn defaults_load_without_any_file_or_variable() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::load_from(dir.path(), HashMap::new()).unwrap();
        assert_eq!(settings.server.addr, "127.0.0.1:8080");
        assert_eq!(settings.database_url(), None);
        assert_eq!(settings.database.data_dir, PathBuf::from("./data/postgres"));
        assert_eq!(settings.proposals.pending_ttl_secs, 1800);
        assert_eq!(settings.log_format, LogFormat::Pretty);
    }

    #[test]
    fn local_file_overrides_defaults_and_environment_overrides_both() {
        let dir = dir_with_local("[server]\naddr = \"127.0.0.1:9000\"\nbody_limit_bytes = 2048\n");
        let from_file = Settings::load_from(dir.path(), HashMap::new()).unwrap();
        assert_eq!(from_file.server.addr, "127.0.0.1:9000");
        assert_eq!(from_file.server.body_limit_bytes, 2048);

        let from_env = Settings::load_from(
            dir.path(),
            env(&[
                ("COUNTERSIGN_SERVER__ADDR", "127.0.0.1:9001"),
                ("COUNTERSIGN_LOG_FORMAT", "json"),
            ]),
        )
        .unwrap();
        assert_eq!(from_env.server.addr, "127.0.0.1:9001");
        assert_eq!(from_env.server.body_limit_bytes, 2048, "the file's other values stay");
        assert_eq!(from_env.log_format, LogFormat::Json);
    }

    #[test]
    fn database_url_comes_from_database_url_and_the_specific_variable_wins() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Settings::load_from(dir.path(), env(&[("DATABASE_URL", "postgres://a@localhost/one")])).unwrap();
        assert_eq!(plain.database_url(), Some("postgres://a@localhost/one"));

        let both = Settings::load_from(
            dir.path(),
            env(&[
                ("DATABASE_URL", "postgres://a@localhost/one"),
                ("COUNTERSIGN_DATABASE__URL", "postgres://b@localhost/two"),
            ]),
        )
        .unwrap();
        assert_eq!(both.database_url(), Some("postgres://b@localhost/two"));

        let empty = Settings::load_from(dir.path(), env(&[("DATABASE_URL", "")])).unwrap();
        assert_eq!(empty.database_url(), None, "an empty DATABASE_URL means embedded");
    }

    #[test]
    fn numbers_from_the_environment_are_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let settings =
            Settings::load_from(dir.path(), env(&[("COUNTERSIGN_PROPOSALS__PENDING_TTL_SECS", "60")])).unwrap();
        assert_eq!(settings.proposals.pending_ttl_secs, 60);
    }

    #[test]
    fn the_retry_schedule_comes_from_a_list_or_from_commas_in_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let defaults = Settings::load_from(dir.path(), HashMap::new()).unwrap();
        assert_eq!(
            defaults.webhooks.retry_schedule_secs,
            [5, 300, 1800, 7200, 18000, 36000, 36000]
        );
        let from_env = Settings::load_from(
            dir.path(),
            env(&[("COUNTERSIGN_WEBHOOKS__RETRY_SCHEDULE_SECS", "1,60,600")]),
        )
        .unwrap();
        assert_eq!(from_env.webhooks.retry_schedule_secs, [1, 60, 600]);
        let text = error_text(Settings::load_from(
            dir.path(),
            env(&[("COUNTERSIGN_WEBHOOKS__RETRY_JITTER", "2")]),
        ));
        assert!(text.contains("webhooks.retry_jitter"), "{text}");
    }

    #[test]
    fn a_bad_address_is_refused_naming_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let text = error_text(Settings::load_from(
            dir.path(),
            env(&[("COUNTERSIGN_SERVER__ADDR", "localhost")]),
        ));
        assert!(text.contains("server.addr"), "{text}");
    }

    #[test]
    fn a_database_url_of_another_scheme_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = error_text(Settings::load_from(dir.path(), env(&[("DATABASE_URL", "mysql://x")])));
        assert!(text.contains("database.url"), "{text}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_naming_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let text = error_text(Settings::load_from(
            dir.path(),
            env(&[("COUNTERSIGN_DATABASE__MAX_CONNECTIONS", "many")]),
        ));
        assert!(text.contains("max_connections"), "{text}");
    }

    #[test]
    fn an_unknown_key_is_refused_so_typos_do_not_pass_silently() {
        let dir = dir_with_local("[server]\nadress = \"127.0.0.1:1\"\n");
        let text = error_text(Settings::load_from(dir.path(), HashMap::new()));
        assert!(text.contains("adress"), "{text}");
    }

    #[test]
    fn an_unknown_log_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = error_text(Settings::load_from(
            dir.path(),
            env(&[("COUNTERSIGN_LOG_FORMAT", "xml")]),
        ));
        assert!(text.contains("xml"), "{text}");
    }

    #[test]
    fn policy_settings_are_checked() {
        let cases = [
            ("[proposals]\ndeclines_to_reject = 0\n", "proposals.declines_to_reject"),
            (
                "[proposals]\ndefault_required_cosigners = 0\n",
                "proposals.default_required_cosigners",
            ),
            ("[proposals]\npending_ttl_secs = 0\n", "proposals.pending_ttl_secs"),
            ("[proposals.peer_limits]\neur = 5\n", "proposals.peer_limits.eur"),
            ("[proposals.peer_limits]\nEUR = 0\n", "proposals.peer_limits.EUR"),
            (
                "[[proposals.categories]]\nname = \"Bad Name\"\ndescription = \"x\"\n",
                "proposals.categories[0].name",
            ),
            (
                "[[proposals.thresholds]]\ncurrency = \"EUR\"\nabove_minor = 1\nrequired_cosigners = 11\n",
                "proposals.thresholds[0].required_cosigners",
            ),
        ];
        for (local, key) in cases {
            let dir = dir_with_local(local);
            let text = error_text(Settings::load_from(dir.path(), HashMap::new()));
            assert!(text.contains(key), "expected `{key}` in: {text}");
        }
    }
}

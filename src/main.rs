//! The command line: `serve` (the default), `migrate`, `bootstrap-admin`,
//! `demo`, `healthcheck`, `grant-runtime-role`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use countersign::config::Settings;
use countersign::db::{self, Database};
use countersign::startup::{Application, shutdown_signal};
use countersign::telemetry;

#[derive(Parser)]
#[command(
    name = "countersign",
    version,
    about = "Two-person exception approval for customer service"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create the first admin (if absent) and print a new token for them on stdout.
    BootstrapAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
    /// Create a small demo team (two agents in billing, one in support, a
    /// manager) if absent, and print a fresh token for each as shell lines.
    Demo,
    /// Exit 0 when the service running with these settings is ready
    /// (GET /readyz answers 200), 1 otherwise: for container health checks.
    Healthcheck,
    /// Fill an empty database with a year of realistic history (agents in
    /// teams, managers, proposals of every kind and fate, signatures,
    /// outcomes, reviews) for measuring reports. Writes no audit events;
    /// refused on a database that already holds proposals.
    Seed {
        #[arg(long, default_value_t = 100_000)]
        proposals: u64,
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Store the report figures of every settled day and month now (what
    /// the rollup worker does a year's worth at a time), e.g. after `seed`,
    /// and print how many and how long it took.
    StoreReportFigures,
    /// Migrate, then grant an existing role exactly what the running service
    /// needs (run as the database owner; see "Two database roles").
    GrantRuntimeRole {
        #[arg(long)]
        role: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("countersign: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::BootstrapAdmin { email, name } => bootstrap_admin(settings, &email, &name).await,
        Command::Demo => demo(settings).await,
        Command::Seed { proposals, days } => seed(settings, proposals, days).await,
        Command::StoreReportFigures => store_report_figures(settings).await,
        Command::Healthcheck => return healthcheck(&settings).await,
        Command::GrantRuntimeRole { role } => {
            with_database(
                &settings,
                |pool| async move { db::grant_runtime_role(&pool, &role).await },
            )
            .await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("countersign: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings).await?.run_until(shutdown_signal()).await
}

async fn demo(settings: Settings) -> anyhow::Result<()> {
    let url = format!(
        "http://{}",
        countersign::healthcheck::probe_address(settings.server_addr()?)
    );
    let team = with_database(&settings, |pool| async move {
        countersign::app::people::demo_team(&pool).await
    })
    .await?;
    // Shell lines on stdout: `eval "$(countersign demo)"` sets them all.
    println!("export COUNTERSIGN_URL={url}");
    for member in team {
        println!(
            "export {}={}  # {}, {}{}",
            member.variable,
            member.token,
            member.name,
            member.role.as_str(),
            member.team.map(|team| format!(", {team}")).unwrap_or_default()
        );
    }
    Ok(())
}

async fn healthcheck(settings: &Settings) -> ExitCode {
    let addr = match settings.server_addr() {
        Ok(addr) => countersign::healthcheck::probe_address(addr),
        Err(error) => {
            eprintln!("countersign: {error}");
            return ExitCode::from(2);
        }
    };
    match countersign::healthcheck::readiness(addr, std::time::Duration::from_secs(3)).await {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("countersign: {addr}/readyz answered {status}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("countersign: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    with_database(&settings, |_| async { Ok(()) }).await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn bootstrap_admin(settings: Settings, email: &str, name: &str) -> anyhow::Result<()> {
    let token = with_database(&settings, |pool| async move {
        countersign::app::people::bootstrap_admin(&pool, email, name).await
    })
    .await?;
    // The token alone on stdout, so `TOKEN=$(countersign bootstrap-admin …)` works.
    println!("{token}");
    Ok(())
}

async fn seed(settings: Settings, proposals: u64, days: u32) -> anyhow::Result<()> {
    let categories: Vec<String> = settings.proposals.categories.iter().map(|c| c.name.clone()).collect();
    let started = std::time::Instant::now();
    let written = with_database(&settings, |pool| async move {
        let written = countersign::db::seed::seed(&pool, proposals, days, &categories).await?;
        // The history was written without audit events: figures a running
        // service stored of a day half seeded would never learn of the
        // rest. Its next pass stores them again from the whole history.
        countersign::reports::rollups::drop_all(&pool).await?;
        Ok(written)
    })
    .await?;
    eprintln!("seeded {written} proposals in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn store_report_figures(settings: Settings) -> anyhow::Result<()> {
    let interval = settings.reports.rollup_interval_secs;
    anyhow::ensure!(
        interval > 0,
        "reports.rollup_interval_secs is 0: no service would keep stored figures current, so reports do not read them"
    );
    let fresh_for = countersign::workers::rollups::fresh_for(interval);
    let started = std::time::Instant::now();
    let built = with_database(&settings, |pool| async move {
        loop {
            match countersign::reports::rollups::build(&pool, i64::MAX, fresh_for).await? {
                Some(built) => return Ok(built),
                // A running replica holds the builder: let it finish.
                None => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
            }
        }
    })
    .await?;
    eprintln!(
        "stored the figures of {} days and {} months ({} dropped as changed) in {:.1} s",
        built.days,
        built.months,
        built.invalidated,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Opens (or starts) the database, migrates it, runs `work`, and closes
/// everything again, whatever `work` answered.
async fn with_database<T, F, Fut>(settings: &Settings, work: F) -> anyhow::Result<T>
where
    F: FnOnce(sqlx::PgPool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let database = Database::open(settings).await?;
    let outcome = async {
        let pool = database.pool(settings).await?;
        db::migrate(&pool).await?;
        let result = work(pool.clone()).await;
        pool.close().await;
        result
    }
    .await;
    database.close().await;
    outcome
}

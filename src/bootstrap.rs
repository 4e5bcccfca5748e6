//! `countersign bootstrap-admin`: the first admin of a fresh install, so it
//! can be set up by script. Creates the admin if absent and issues a token.

use serde_json::json;
use sqlx::PgPool;

use crate::db;
use crate::db::audit::ActorIds;
use crate::http::employees::issue_employee_token;

/// Returns a fresh token for the admin with this email, creating them first
/// if nobody has that email. Refuses to promote an existing non-admin.
pub async fn bootstrap_admin(pool: &PgPool, email: &str, name: &str) -> anyhow::Result<String> {
    let email = email.trim();
    let name = name.trim();
    anyhow::ensure!(
        email.contains('@') && email.len() <= 254,
        "--email must be an email address"
    );
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= 200,
        "--name must be 1-200 characters"
    );

    let mut tx = pool.begin().await?;
    // One bootstrap at a time, so two scripts racing create one admin.
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('countersign.bootstrap-admin'))")
        .execute(&mut *tx)
        .await?;
    let admin = match db::employees::find_by_email(&mut tx, email).await? {
        Some(existing) => {
            anyhow::ensure!(
                existing.role == "admin" && existing.active,
                "{email} exists as an {} {}; bootstrap-admin only issues tokens to active admins",
                if existing.active { "active" } else { "inactive" },
                existing.role
            );
            existing
        }
        None => {
            let created = db::employees::insert(
                &mut tx,
                &db::employees::NewEmployee {
                    name,
                    email,
                    role: "admin",
                    team: None,
                    external_id: None,
                },
            )
            .await?;
            let event = db::audit::event(
                "employee.created",
                "employee",
                created.id,
                ActorIds::default(),
                json!({ "after": created, "source": "bootstrap-admin" }),
            );
            db::audit::record(&mut tx, &[event]).await?;
            created
        }
    };
    let issued = issue_employee_token(&mut tx, admin.id, Some("bootstrap-admin"), ActorIds::default())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    Ok(issued.token)
}

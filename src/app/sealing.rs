//! At start, every stored secret is brought under the configured key:
//! sealed if it is still in clear (stored before sealing existed), sealed
//! again if a previous key sealed it. A secret sealed with a key this
//! replica does not have stops the start, naming both keys, rather than
//! failing every signature later.

use sqlx::PgPool;

use crate::db;
use crate::sealing::{Purpose, Sealer};

pub async fn seal_stored(pool: &PgPool, sealer: &Sealer) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let mut resealed = 0;
    for (id, stored) in db::integrations::stored_secrets(&mut conn).await? {
        if sealer.is_stale(&stored) {
            let sealed = sealer.reseal(Purpose::IntegrationSecret(id), &stored)?;
            db::integrations::replace_stored_secret(&mut conn, id, &stored, &sealed).await?;
            resealed += 1;
        } else {
            sealer.open(Purpose::IntegrationSecret(id), &stored)?;
        }
    }
    for (id, secret, previous) in db::webhooks::stored_secrets(&mut conn).await? {
        let stale = sealer.is_stale(&secret) || previous.as_deref().is_some_and(|p| sealer.is_stale(p));
        if !stale {
            sealer.open(Purpose::EndpointSecret(id), &secret)?;
            continue;
        }
        let new_secret = sealer.reseal(Purpose::EndpointSecret(id), &secret)?;
        let new_previous = previous
            .as_deref()
            .map(|p| sealer.reseal(Purpose::EndpointSecret(id), p))
            .transpose()?;
        db::webhooks::replace_stored_secrets(
            &mut conn,
            id,
            (&secret, previous.as_deref()),
            (&new_secret, new_previous.as_deref()),
        )
        .await?;
        resealed += 1;
    }
    if resealed > 0 {
        tracing::info!(
            resealed,
            key_id = sealer.key_id(),
            "sealed stored secrets with the current key"
        );
    }
    Ok(())
}

//! The application layer: one function per use case, between the doors
//! (`http/`, inbound webhooks, the web pages (`web/`) and the workers) and the
//! rules (`domain/`) and SQL (`db/`; the reports' in `reports/`). A use case
//! takes the acting person (and the integration acting for them), typed
//! input and the time, asks `domain` for the decision, writes through `db`,
//! and ends in the one commit routine. Nothing here knows HTTP.
//!
//! Each write comes twice: `cosign(state, …)` runs it in its own
//! transaction through the commit routine ([`commit::commit_once`]); `cosign_in(conn, …, now)` is the
//! transactional core, for callers that must do more in the same
//! transaction (an inbound webhook recording its delivery id).

pub mod actor;
pub mod audit;
pub mod availability;
pub mod commit;
pub mod error;
pub mod inbound;
pub mod integrations;
pub mod outbox;
pub mod people;
pub mod proposals;
pub mod reports;
pub mod routing;
pub mod sealing;
pub mod sessions;
pub mod standing_approvals;
pub mod webhooks;

pub use actor::Actor;
pub use commit::{Change, IdempotencyKey, Written, commit, commit_delivery, commit_once};
pub use error::AppError;

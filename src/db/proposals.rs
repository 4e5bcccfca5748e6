//! SQL for proposals, their signatures, outcomes and reviews. Rules are decided in
//! `domain::proposal`; these functions only read and write, inside the
//! caller's transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::employee::Role;
use crate::domain::event::EventType;
use crate::domain::policy::Money;
use crate::domain::proposal::{
    CustomerOutcome, Decision, MaterialTerms, OpenOnTicket, ProposalFacts, SignatureFact, Status, Terms, Verdict,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignatureRow {
    pub id: Uuid,
    pub employee_id: Uuid,
    pub via_integration_id: Option<Uuid>,
    pub revision: i32,
    pub decision: Decision,
    pub comment: Option<String>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Whether the signer is an active agent as the proposal is read (not a
    /// column: joined from `employees`, never written or shown).
    #[serde(default, skip_serializing)]
    pub by_active_agent: bool,
    /// The signer's name and team as they are now (joined, not stored).
    #[serde(default, skip_serializing)]
    pub name: String,
    #[serde(default, skip_serializing)]
    pub team: Option<String>,
    /// The signer's signer groups as they are now (joined, not stored).
    #[serde(default, skip_serializing)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeRow {
    pub recorded_by: Uuid,
    pub via_integration_id: Option<Uuid>,
    pub executed: bool,
    pub actual_amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub customer_outcome: CustomerOutcome,
    pub note: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewRow {
    pub reviewer_id: Uuid,
    pub verdict: Verdict,
    pub note: String,
    pub reviewed_at: DateTime<Utc>,
    /// The reviewer's name and team as they are now (joined, not stored).
    #[serde(default, skip_serializing)]
    pub reviewer_name: String,
    #[serde(default, skip_serializing)]
    pub reviewer_team: Option<String>,
}

/// A proposal with everything hung on it. The attachments arrive as JSON
/// from subselects, so one statement reads the whole proposal.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalRow {
    pub id: Uuid,
    pub status: Status,
    pub proposer_id: Uuid,
    pub filed_via_integration_id: Option<Uuid>,
    pub category: String,
    pub policy_ref: String,
    pub summary: String,
    pub resolution: String,
    pub justification: String,
    pub customer_ref: Option<String>,
    pub ticket_ref: Option<String>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub required_cosigners: i32,
    /// Signer groups each needing an endorser (fixed per revision).
    pub required_groups: Vec<String>,
    /// The first revision whose endorsements still count (none: filed
    /// before revisions could keep them; only the current one's count).
    pub endorsements_from: Option<i32>,
    /// The resolution and amount those endorsements were given to: what a
    /// revision that keeps them is measured against.
    pub endorsed_resolution: Option<String>,
    pub endorsed_amount_minor: Option<i64>,
    pub declines_to_reject: i32,
    pub revision: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Approved by the proposer alone (see `solo_approvals`).
    pub approved_alone: bool,
    /// When the current revision began (none: at filing).
    pub revision_started_at: Option<DateTime<Utc>>,
    /// The standing approval that approved it on filing.
    pub standing_approval_id: Option<Uuid>,
    /// The proposer's name and team as they are now (joined, not stored).
    #[serde(skip)]
    pub proposer_name: String,
    #[serde(skip)]
    pub proposer_team: Option<String>,
    #[serde(skip)]
    pub signatures: Json<Vec<SignatureRow>>,
    #[serde(skip)]
    pub outcome: Option<Json<OutcomeRow>>,
    #[serde(skip)]
    pub review: Option<Json<ReviewRow>>,
}

impl ProposalRow {
    /// What the rules need to know, as the proposal was read.
    pub fn facts(&self) -> ProposalFacts {
        ProposalFacts {
            status: self.status,
            proposer_id: self.proposer_id,
            revision: self.revision,
            required_cosigners: self.required_cosigners,
            required_groups: self.required_groups.clone(),
            endorsements_kept_from: self.endorsements_from.filter(|from| *from < self.revision),
            declines_to_reject: self.declines_to_reject,
            expires_at: self.expires_at,
            signatures: self
                .signatures
                .iter()
                .map(|s| SignatureFact {
                    employee_id: s.employee_id,
                    revision: s.revision,
                    decision: s.decision,
                    by_active_agent: s.by_active_agent,
                    groups: s.groups.clone(),
                })
                .collect(),
            outcome_recorded: self.outcome.is_some(),
            reviewed: self.review.is_some(),
        }
    }

    /// The material terms the counted endorsements were given to (none for
    /// a proposal filed before revisions could keep them).
    pub fn endorsed_terms(&self) -> Option<MaterialTerms> {
        let resolution = self.endorsed_resolution.clone()?;
        self.endorsements_from?;
        let mut endorsed = self.terms().material();
        endorsed.resolution = resolution;
        endorsed.amount = match (self.endorsed_amount_minor, &self.currency) {
            (Some(minor), Some(currency)) => Some(Money {
                minor,
                currency: currency.clone(),
            }),
            _ => None,
        };
        Some(endorsed)
    }

    /// What the proposal says.
    pub fn terms(&self) -> Terms {
        Terms {
            category: self.category.clone(),
            policy_ref: self.policy_ref.clone(),
            summary: self.summary.clone(),
            resolution: self.resolution.clone(),
            justification: self.justification.clone(),
            customer_ref: self.customer_ref.clone(),
            ticket_ref: self.ticket_ref.clone(),
            amount: match (self.amount_minor, &self.currency) {
                (Some(minor), Some(currency)) => Some(Money {
                    minor,
                    currency: currency.clone(),
                }),
                _ => None,
            },
        }
    }

    /// Takes these terms (the schema keeps amount and currency together).
    pub fn set_terms(&mut self, terms: Terms) {
        self.category = terms.category;
        self.policy_ref = terms.policy_ref;
        self.summary = terms.summary;
        self.resolution = terms.resolution;
        self.justification = terms.justification;
        self.customer_ref = terms.customer_ref;
        self.ticket_ref = terms.ticket_ref;
        self.amount_minor = terms.amount.as_ref().map(|m| m.minor);
        self.currency = terms.amount.map(|m| m.currency);
    }
}

/// Proposals with their signatures, outcome and review, in one statement;
/// the literals that follow hold the WHERE clause (and ordering or locking).
macro_rules! select_proposals {
    ($($suffix:literal)+ $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            ProposalRow,
            r#"
            SELECT p.id, p.status AS "status: Status", p.proposer_id, p.filed_via_integration_id, p.category, p.policy_ref,
                   p.summary, p.resolution, p.justification, p.customer_ref, p.ticket_ref,
                   p.amount_minor, p.currency, p.required_cosigners, p.declines_to_reject, p.revision,
                   p.created_at, p.updated_at, p.expires_at, p.decided_at, p.approved_alone,
                   p.revision_started_at, p.required_groups, p.endorsements_from, p.endorsed_resolution,
                   p.endorsed_amount_minor, p.standing_approval_id,
                   (SELECT e.name FROM employees e WHERE e.id = p.proposer_id) AS "proposer_name!",
                   (SELECT e.team FROM employees e WHERE e.id = p.proposer_id) AS proposer_team,
                   (SELECT coalesce(jsonb_agg(to_jsonb(s) - 'proposal_id' - 'proposer_id'
                                              || jsonb_build_object('by_active_agent', e.active AND e.role = 'agent',
                                                                    'name', e.name, 'team', e.team,
                                                                    'groups', e.groups)
                                              ORDER BY s.id), '[]')
                    FROM signatures s JOIN employees e ON e.id = s.employee_id
                    WHERE s.proposal_id = p.id) AS "signatures!: Json<Vec<SignatureRow>>",
                   (SELECT to_jsonb(o) - 'proposal_id' FROM proposal_outcomes o WHERE o.proposal_id = p.id)
                       AS "outcome: Json<OutcomeRow>",
                   (SELECT to_jsonb(r) - 'proposal_id'
                           || jsonb_build_object('reviewer_name', e.name, 'reviewer_team', e.team)
                    FROM proposal_reviews r JOIN employees e ON e.id = r.reviewer_id
                    WHERE r.proposal_id = p.id) AS "review: Json<ReviewRow>"
            FROM proposals p
            "# $(+ $suffix)+
            $(, $arg)*
        )
    };
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ProposalRow>> {
    select_proposals!("WHERE p.id = $1", id).fetch_optional(conn).await
}

/// Up to two proposals filed through `integration_id` for `ticket_ref` in
/// one of `statuses` (with `awaiting_outcome`, only those with no outcome
/// recorded yet): the caller needs exactly one.
pub async fn for_ticket(
    conn: &mut PgConnection,
    integration_id: Uuid,
    ticket_ref: &str,
    statuses: &[Status],
    awaiting_outcome: bool,
) -> sqlx::Result<Vec<Uuid>> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    sqlx::query_scalar!(
        r#"
        SELECT p.id FROM proposals p
        WHERE p.ticket_ref = $1 AND p.status = ANY($2) AND p.filed_via_integration_id = $4
          AND (NOT $3 OR NOT EXISTS (SELECT 1 FROM proposal_outcomes o WHERE o.proposal_id = p.id))
        ORDER BY p.id DESC
        LIMIT 2
        "#,
        ticket_ref,
        &statuses as &[&str],
        awaiting_outcome,
        integration_id
    )
    .fetch_all(conn)
    .await
}

/// Serialises filings and revisions onto one ticket and category until the
/// transaction ends (the schema's trigger takes the same lock).
pub async fn lock_ticket(conn: &mut PgConnection, category: &str, ticket_ref: &str) -> sqlx::Result<()> {
    sqlx::query!("SELECT countersign_lock_ticket($1, $2)", category, ticket_ref)
        .execute(conn)
        .await?;
    Ok(())
}

/// The pending proposal filed for `ticket_ref` in `category`, other than
/// `except` (the one being revised), read after [`lock_ticket`].
pub async fn open_on_ticket(
    conn: &mut PgConnection,
    category: &str,
    ticket_ref: &str,
    except: Option<Uuid>,
) -> sqlx::Result<Option<OpenOnTicket>> {
    sqlx::query_as!(
        OpenOnTicket,
        r#"
        SELECT id, expires_at FROM proposals
        WHERE ticket_ref = $2 AND category = $1 AND status = 'pending' AND id IS DISTINCT FROM $3
        ORDER BY id
        LIMIT 1
        "#,
        category,
        ticket_ref,
        except
    )
    .fetch_optional(conn)
    .await
}

/// The proposal, locked until the transaction ends: every change to one
/// proposal is serialised here, and nothing else is locked.
///
/// The lock is taken first and the proposal read after it, in a statement
/// of its own. Under READ COMMITTED a statement that waited for the lock
/// re-reads the locked row but not its subselects: one statement would see
/// the signatures as they were before it waited, and a signature that did
/// not change the proposal row would be missed by the next signer.
pub async fn find_for_update(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ProposalRow>> {
    if !lock(conn, id).await? {
        return Ok(None);
    }
    find(conn, id).await
}

/// Locks the proposal until the transaction ends; false when there is none.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let locked = sqlx::query_scalar!("SELECT id FROM proposals WHERE id = $1 FOR NO KEY UPDATE", id)
        .fetch_optional(conn)
        .await?;
    Ok(locked.is_some())
}

/// For a signature on a proposal already locked: holds the signer's row and
/// the rows of everyone who endorsed it, so nobody's role or active flag
/// changes between the decision and its commit (a deactivation waits for
/// the signature, which then counted an endorser active at that moment).
/// Answers the signer as they are now.
pub async fn lock_signers(conn: &mut PgConnection, proposal_id: Uuid, signer_id: Uuid) -> sqlx::Result<Option<Signer>> {
    let rows = sqlx::query!(
        r#"
        SELECT e.id, e.role AS "role: Role", e.active, e.name, e.team, e.groups FROM employees e
        WHERE e.id = $2
           OR e.id IN (SELECT s.employee_id FROM signatures s WHERE s.proposal_id = $1 AND s.decision = 'endorse')
        FOR SHARE
        "#,
        proposal_id,
        signer_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().find(|row| row.id == signer_id).map(|row| Signer {
        role: row.role,
        active: row.active,
        name: row.name,
        team: row.team,
        groups: row.groups,
    }))
}

/// A signer as the signature finds them.
#[derive(Debug, Clone)]
pub struct Signer {
    pub role: Role,
    pub active: bool,
    pub name: String,
    pub team: Option<String>,
    pub groups: Vec<String>,
}

/// Inserts a new proposal as the row describes it (status and revision
/// take their defaults: pending, revision 1), if its proposer is an active
/// agent now; false when not. The proposer's row is held until commit, so a
/// deactivation either waits for the filing (and then withdraws it) or came
/// first (and the filing is refused). Answers the proposer's name and team.
pub async fn insert(conn: &mut PgConnection, row: &ProposalRow) -> sqlx::Result<Option<(String, Option<String>)>> {
    let inserted = sqlx::query!(
        r#"
        INSERT INTO proposals (id, proposer_id, filed_via_integration_id, category, policy_ref, summary,
                               resolution, justification, customer_ref, ticket_ref, amount_minor, currency,
                               required_cosigners, declines_to_reject, created_at, updated_at, expires_at,
                               required_groups)
        SELECT $1, e.id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18
        FROM employees e
        WHERE e.id = $2 AND e.active AND e.role = 'agent'
        FOR SHARE
        RETURNING (SELECT name FROM employees WHERE id = proposer_id) AS "name!",
                  (SELECT team FROM employees WHERE id = proposer_id) AS team
        "#,
        row.id,
        row.proposer_id,
        row.filed_via_integration_id,
        row.category,
        row.policy_ref,
        row.summary,
        row.resolution,
        row.justification,
        row.customer_ref,
        row.ticket_ref,
        row.amount_minor,
        row.currency,
        row.required_cosigners,
        row.declines_to_reject,
        row.created_at,
        row.updated_at,
        row.expires_at,
        &row.required_groups,
    )
    .fetch_optional(conn)
    .await?;
    Ok(inserted.map(|row| (row.name, row.team)))
}

pub async fn insert_signature(
    conn: &mut PgConnection,
    proposal: &ProposalRow,
    signature: &SignatureRow,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        INSERT INTO signatures (id, proposal_id, proposer_id, employee_id, via_integration_id, revision,
                                decision, comment, reason, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        "#,
        signature.id,
        proposal.id,
        proposal.proposer_id,
        signature.employee_id,
        signature.via_integration_id,
        signature.revision,
        signature.decision.as_str(),
        signature.comment,
        signature.reason,
        signature.created_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a decision, status and `decided_at` (the schema checks the
/// move), and keeps `row` in step with what was written.
pub async fn decide(
    conn: &mut PgConnection,
    row: &mut ProposalRow,
    status: Status,
    decided_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE proposals SET status = $2, decided_at = $3, updated_at = $3 WHERE id = $1",
        row.id,
        status.as_str(),
        decided_at
    )
    .execute(conn)
    .await?;
    row.status = status;
    row.decided_at = Some(decided_at);
    row.updated_at = decided_at;
    Ok(())
}

/// The proposer approves alone: their reason first (the schema allows an
/// approval without enough co-signers only with it), then the approval.
pub async fn approve_alone(
    conn: &mut PgConnection,
    row: &mut ProposalRow,
    reason: &str,
    why: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO solo_approvals (proposal_id, employee_id, revision, reason, why, approved_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        row.id,
        row.proposer_id,
        row.revision,
        reason,
        why,
        now
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE proposals SET status = 'approved', approved_alone = true, decided_at = $2, updated_at = $2 WHERE id = $1",
        row.id,
        now
    )
    .execute(conn)
    .await?;
    row.status = Status::Approved;
    row.approved_alone = true;
    row.decided_at = Some(now);
    row.updated_at = now;
    Ok(())
}

/// A filing approved as it is filed, by the standing approval that covers
/// it (the schema checks that it does, and holds it until commit).
pub async fn approve_standing(
    conn: &mut PgConnection,
    row: &mut ProposalRow,
    standing_approval_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE proposals SET status = 'approved', standing_approval_id = $2, decided_at = $3, updated_at = $3
         WHERE id = $1",
        row.id,
        standing_approval_id,
        now
    )
    .execute(conn)
    .await?;
    row.status = Status::Approved;
    row.standing_approval_id = Some(standing_approval_id);
    row.decided_at = Some(now);
    row.updated_at = now;
    Ok(())
}

/// Writes the revisable fields as the row holds them.
pub async fn revise(conn: &mut PgConnection, row: &ProposalRow) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        UPDATE proposals
        SET category = $2, policy_ref = $3, summary = $4, resolution = $5, justification = $6,
            customer_ref = $7, ticket_ref = $8, amount_minor = $9, currency = $10,
            required_cosigners = $11, revision = $12, updated_at = $13, revision_started_at = $14,
            required_groups = $15, endorsements_from = $16, endorsed_resolution = $17, endorsed_amount_minor = $18
        WHERE id = $1
        "#,
        row.id,
        row.category,
        row.policy_ref,
        row.summary,
        row.resolution,
        row.justification,
        row.customer_ref,
        row.ticket_ref,
        row.amount_minor,
        row.currency,
        row.required_cosigners,
        row.revision,
        row.updated_at,
        row.revision_started_at,
        &row.required_groups,
        row.endorsements_from,
        row.endorsed_resolution,
        row.endorsed_amount_minor,
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_outcome(conn: &mut PgConnection, proposal_id: Uuid, outcome: &OutcomeRow) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        INSERT INTO proposal_outcomes (proposal_id, recorded_by, via_integration_id, executed,
                                       actual_amount_minor, currency, customer_outcome, note, recorded_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        "#,
        proposal_id,
        outcome.recorded_by,
        outcome.via_integration_id,
        outcome.executed,
        outcome.actual_amount_minor,
        outcome.currency,
        outcome.customer_outcome.as_str(),
        outcome.note,
        outcome.recorded_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts the review; fills in the reviewer's name and team.
pub async fn insert_review(conn: &mut PgConnection, proposal_id: Uuid, review: &mut ReviewRow) -> sqlx::Result<()> {
    let reviewer = sqlx::query!(
        r#"
        INSERT INTO proposal_reviews (proposal_id, reviewer_id, verdict, note, reviewed_at) VALUES ($1, $2, $3, $4, $5)
        RETURNING (SELECT name FROM employees WHERE id = reviewer_id) AS "name!",
                  (SELECT team FROM employees WHERE id = reviewer_id) AS team
        "#,
        proposal_id,
        review.reviewer_id,
        review.verdict.as_str(),
        review.note,
        review.reviewed_at,
    )
    .fetch_one(conn)
    .await?;
    review.reviewer_name = reviewer.name;
    review.reviewer_team = reviewer.team;
    Ok(())
}

/// Filters of `GET /v1/proposals`; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub category: Option<String>,
    pub policy_ref: Option<String>,
    pub proposer: Option<Uuid>,
    pub cosigner: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub reviewed: Option<bool>,
    /// Pending proposals the employee may still sign (the inbox).
    pub signable_by: Option<Uuid>,
    /// Proposals the employee was asked to co-sign.
    pub asked_of: Option<Uuid>,
    /// Decided and not yet reviewed (the review queue): those approved
    /// alone first, then oldest first.
    pub awaiting_review: bool,
    /// Leaves out what the employee filed or signed (the review queue).
    pub reviewable_by: Option<Uuid>,
    pub now: DateTime<Utc>,
    /// Newest first unless `oldest_first`.
    pub oldest_first: bool,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// The matching proposals, in page order, in one statement. The status
/// filter uses the effective status: a pending proposal past its deadline
/// counts as expired. Each order is its own statement, so an index yields
/// the page order and the cursor is an index bound; the review queue walks
/// `review_backlog`, not the whole history. Two filters also say what they
/// imply in terms an index can use: an effective status is that stored
/// status (or, for expired, still pending), so the status index serves
/// the few pending among a million; and a filing time bounds the id (the
/// schema keeps a UUIDv7 id within a minute of its filing time), so a
/// window in the past starts the walk there instead of at the newest.
pub async fn list(conn: &mut PgConnection, filter: &ListFilter) -> sqlx::Result<Vec<ProposalRow>> {
    macro_rules! list_where {
        ($join:literal, $order:literal) => {
            select_proposals!(
                $join
                r#"
                WHERE ($1::text IS NULL OR countersign_effective_status(p.status, p.expires_at, $10) = $1)
                  AND ($1::text IS NULL OR p.status = $1 OR ($1 = 'expired' AND p.status = 'pending'))
                  AND ($2::text IS NULL OR p.category = $2)
                  AND ($3::text IS NULL OR p.policy_ref = $3)
                  AND ($4::uuid IS NULL OR p.proposer_id = $4)
                  AND ($5::uuid IS NULL OR EXISTS (SELECT 1 FROM signatures s
                                                   WHERE s.proposal_id = p.id AND s.employee_id = $5
                                                     AND s.decision = 'endorse'))
                  AND ($6::timestamptz IS NULL OR p.created_at >= $6)
                  AND ($7::timestamptz IS NULL OR p.created_at < $7)
                  AND ($6::timestamptz IS NULL OR p.id >= countersign_uuid_v7_floor($6 - interval '1 minute'))
                  AND ($7::timestamptz IS NULL OR p.id < countersign_uuid_v7_floor($7 + interval '1 minute'))
                  AND ($8::bool IS NULL OR EXISTS (SELECT 1 FROM proposal_reviews r WHERE r.proposal_id = p.id) = $8)
                  AND ($9::uuid IS NULL OR (p.status = 'pending' AND p.expires_at > $10 AND p.proposer_id <> $9
                                            AND NOT EXISTS (SELECT 1 FROM signatures s
                                                            WHERE s.proposal_id = p.id AND s.employee_id = $9
                                                              AND s.revision >= coalesce(p.endorsements_from, p.revision))
                                            AND CASE WHEN cardinality(p.required_groups) = 0 THEN true
                                                     ELSE countersign_may_take_a_place(p, $9) END))
                  AND ($11::uuid IS NULL OR (p.proposer_id <> $11
                                             AND NOT EXISTS (SELECT 1 FROM signatures s
                                                             WHERE s.proposal_id = p.id AND s.employee_id = $11)))
                  AND ($14::uuid IS NULL OR EXISTS (SELECT 1 FROM cosign_requests q
                                                    WHERE q.proposal_id = p.id AND q.employee_id = $14))
                "#
                $order,
                filter.status.map(Status::as_str),
                filter.category,
                filter.policy_ref,
                filter.proposer,
                filter.cosigner,
                filter.from,
                filter.to,
                filter.reviewed,
                filter.signable_by,
                filter.now,
                filter.reviewable_by,
                filter.after,
                filter.limit,
                filter.asked_of,
            )
        };
    }
    if filter.awaiting_review {
        list_where!(
            "JOIN review_backlog b ON b.proposal_id = p.id",
            "AND ($12::uuid IS NULL
                  OR (NOT p.approved_alone, b.proposal_id) > (SELECT NOT q.approved_alone, q.id FROM proposals q WHERE q.id = $12))
             ORDER BY NOT p.approved_alone, b.proposal_id LIMIT $13"
        )
        .fetch_all(conn)
        .await
    } else if filter.oldest_first {
        list_where!(
            "",
            "AND p.id > coalesce($12::uuid, '00000000-0000-0000-0000-000000000000') ORDER BY p.id LIMIT $13"
        )
        .fetch_all(conn)
        .await
    } else {
        list_where!(
            "",
            "AND p.id < coalesce($12::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff') ORDER BY p.id DESC LIMIT $13"
        )
        .fetch_all(conn)
        .await
    }
}

/// Marks overdue pending proposals expired (all of them, or only `only`), a
/// batch at a time; replicas share the work without waiting on each other
/// (SKIP LOCKED; a row this transaction already locked is not skipped).
/// Answers the proposals expired.
pub async fn expire_overdue(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    only: Option<Uuid>,
    batch: i64,
) -> sqlx::Result<Vec<Expired>> {
    sqlx::query_as!(
        Expired,
        r#"
        WITH overdue AS (
            SELECT id FROM proposals
            WHERE status = 'pending' AND expires_at <= $1 AND ($3::uuid IS NULL OR id = $3)
            ORDER BY expires_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        )
        UPDATE proposals p
        SET status = 'expired', decided_at = p.expires_at, updated_at = $1
        FROM overdue
        WHERE p.id = overdue.id
        RETURNING p.id, p.proposer_id, p.expires_at
        "#,
        now,
        batch,
        only
    )
    .fetch_all(conn)
    .await
}

/// A proposal the deadline decided.
#[derive(Debug, Clone, Copy)]
pub struct Expired {
    pub id: Uuid,
    pub proposer_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// How often a proposal was revised (its `proposal.revised` events).
pub async fn revisions_made(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM audit_events WHERE subject_id = $1 AND event_type = $2"#,
        id,
        EventType::ProposalRevised.as_str()
    )
    .fetch_one(conn)
    .await
}

/// Withdraws the pending proposals of someone who is no longer an active
/// agent (deactivated, or now a manager or admin): nobody stands behind them
/// any more. Those past their deadline are left to the expiry worker. A
/// proposal being decided at this moment is waited for, then skipped.
/// Answers the ids withdrawn.
pub async fn withdraw_pending_of(
    conn: &mut PgConnection,
    proposer_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"
        UPDATE proposals SET status = 'withdrawn', decided_at = $2, updated_at = $2
        WHERE proposer_id = $1 AND status = 'pending' AND expires_at > $2
        RETURNING id
        "#,
        proposer_id,
        now
    )
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub event_type: String,
    pub actor_employee_id: Option<Uuid>,
    pub via_integration_id: Option<Uuid>,
    pub payload: Value,
    pub chain_seq: Option<i64>,
}

pub async fn events(
    conn: &mut PgConnection,
    proposal_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as!(
        EventRow,
        r#"
        SELECT e.id, e.occurred_at, e.event_type, e.actor_employee_id, e.via_integration_id, e.payload,
               c.seq AS "chain_seq?"
        FROM audit_events e
        LEFT JOIN audit_chain c ON c.event_id = e.id
        WHERE e.subject_id = $1 AND ($2::uuid IS NULL OR e.id > $2)
        ORDER BY e.id
        LIMIT $3
        "#,
        proposal_id,
        after,
        limit
    )
    .fetch_all(conn)
    .await
}

/// The policy references most used among the latest proposals, most used
/// first: what a filing form suggests, so one rule keeps one name (the
/// reports group by it).
pub async fn common_policy_refs(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"
        SELECT policy_ref AS "policy_ref!"
        FROM (SELECT policy_ref FROM proposals ORDER BY id DESC LIMIT 5000) latest
        GROUP BY policy_ref
        ORDER BY count(*) DESC, policy_ref
        LIMIT $1
        "#,
        limit
    )
    .fetch_all(conn)
    .await
}

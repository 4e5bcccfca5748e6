//! Review reports on a known history: every figure of the summary asserted
//! exactly (counts, rates, median and p90 waits, amounts, outcomes,
//! verdicts, totals) per grouping, the exceptions export parsed back cell
//! by cell, empty windows, who may ask, and bad parameters.
//!
//! The history is written in the past through the schema's own triggers
//! (filing and deciding times cannot be set through the API, and must be
//! known here to assert the waits).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, User, eventually};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

enum Fate {
    Approved {
        by: Uuid,
        after_secs: i64,
    },
    Rejected {
        by: [Uuid; 2],
        after_secs: i64,
    },
    Withdrawn,
    /// Left pending past its deadline: expired in effect, not yet written.
    Overdue,
}

struct Past {
    proposer: Uuid,
    category: &'static str,
    policy_ref: &'static str,
    amount: Option<(i64, &'static str)>,
    filed: DateTime<Utc>,
    fate: Fate,
    /// The helpdesk integration it was filed and co-signed through.
    via: Option<Uuid>,
}

/// Writes `past` as it would have happened; answers its id (a UUIDv7 of
/// its filing time, as every proposal's is).
async fn happened(app: &TestApp, past: Past) -> Uuid {
    let mut tx = app.pool.begin().await.unwrap();
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO proposals (id, proposer_id, category, policy_ref, summary, resolution, justification, \
         amount_minor, currency, required_cosigners, declines_to_reject, created_at, updated_at, expires_at, \
         filed_via_integration_id) \
         VALUES (countersign_uuid_v7($6), $1, $2, $3, 'Known case', 'Resolve it', 'Because', $4, $5, 1, 2, $6, $6, \
                 $6 + interval '30 minutes', $7) RETURNING id",
    )
    .bind(past.proposer)
    .bind(past.category)
    .bind(past.policy_ref)
    .bind(past.amount.map(|(minor, _)| minor))
    .bind(past.amount.map(|(_, currency)| currency))
    .bind(past.filed)
    .bind(past.via)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let sign = async |tx: &mut sqlx::PgConnection, signer: Uuid, decision: &str, when: DateTime<Utc>| {
        sqlx::query(
            "INSERT INTO signatures (id, proposal_id, proposer_id, employee_id, revision, decision, reason, created_at, \
                                     via_integration_id) \
             VALUES ($1, $2, $3, $4, 1, $5, CASE WHEN $5 = 'decline' THEN 'No' END, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(past.proposer)
        .bind(signer)
        .bind(decision)
        .bind(when)
        .bind(past.via)
        .execute(tx)
        .await
        .unwrap();
    };
    let decided = match past.fate {
        Fate::Approved { by, after_secs } => {
            let when = past.filed + Duration::seconds(after_secs);
            sign(&mut tx, by, "endorse", when).await;
            Some(("approved", when))
        }
        Fate::Rejected { by, after_secs } => {
            let when = past.filed + Duration::seconds(after_secs);
            sign(&mut tx, by[0], "decline", when).await;
            sign(&mut tx, by[1], "decline", when).await;
            Some(("rejected", when))
        }
        Fate::Withdrawn => Some(("withdrawn", past.filed + Duration::seconds(30))),
        Fate::Overdue => None,
    };
    if let Some((status, when)) = decided {
        sqlx::query("UPDATE proposals SET status = $2, decided_at = $3, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(status)
            .bind(when)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    id
}

async fn outcome(app: &TestApp, id: Uuid, recorded_by: Uuid, executed: Option<(i64, &str)>, customer: &str) {
    sqlx::query(
        "INSERT INTO proposal_outcomes (proposal_id, recorded_by, executed, actual_amount_minor, currency, \
         customer_outcome, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, now())",
    )
    .bind(id)
    .bind(recorded_by)
    .bind(executed.is_some())
    .bind(executed.map(|(minor, _)| minor))
    .bind(executed.map(|(_, currency)| currency))
    .bind(customer)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn reviewed(app: &TestApp, id: Uuid, reviewer: Uuid, verdict: &str) {
    sqlx::query(
        "INSERT INTO proposal_reviews (proposal_id, reviewer_id, verdict, note, reviewed_at) VALUES ($1, $2, $3, 'Seen', now())",
    )
    .bind(id)
    .bind(reviewer)
    .bind(verdict)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// Three agents (two in billing, one in support), a manager, and the known
/// history of January 2026 (plus one proposal just before it).
struct Known {
    app: TestApp,
    a: User,
    b: User,
    c: User,
    manager: User,
}

async fn known_history() -> Known {
    // Flags for the co-sign pairs at sizes this small history can reach.
    let app = TestApp::spawn_with(|settings| {
        settings.reports.pair_min_approvals = 2;
        settings.reports.fast_cosign_secs = 100.0;
    })
    .await;
    let a = app
        .create_user_with("agent", json!({ "team": "billing", "name": "Ana Zoë" }))
        .await;
    let b = app
        .create_user_with("agent", json!({ "team": "billing", "name": "Bo" }))
        .await;
    let c = app
        .create_user_with("agent", json!({ "team": "support", "name": "Cy" }))
        .await;
    let manager = app.create_user("manager").await;
    let jan = |day: u32, time: &str| at(&format!("2026-01-{day:02}T{time}Z"));
    let refund = |proposer: Uuid, amount, filed, fate| Past {
        proposer,
        category: "refund",
        policy_ref: "REFUND-30",
        amount: Some(amount),
        filed,
        fate,
        via: None,
    };

    let p1 = happened(
        &app,
        refund(
            a.id,
            (1000, "EUR"),
            jan(5, "09:00:00"),
            Fate::Approved {
                by: b.id,
                after_secs: 60,
            },
        ),
    )
    .await;
    outcome(&app, p1, a.id, Some((1000, "EUR")), "satisfied").await;
    reviewed(&app, p1, manager.id, "endorse").await;
    // Filed and co-signed through one helpdesk integration.
    let helpdesk = app.integration("generic").await;
    let p2 = happened(
        &app,
        Past {
            via: Some(helpdesk.id),
            ..refund(
                a.id,
                (2000, "EUR"),
                jan(6, "10:00:00"),
                Fate::Approved {
                    by: c.id,
                    after_secs: 120,
                },
            )
        },
    )
    .await;
    outcome(&app, p2, a.id, Some((1500, "EUR")), "dissatisfied").await;
    reviewed(&app, p2, manager.id, "promote_to_policy").await;
    let p3 = happened(
        &app,
        refund(
            b.id,
            (3000, "USD"),
            jan(7, "11:00:00"),
            Fate::Approved {
                by: a.id,
                after_secs: 300,
            },
        ),
    )
    .await;
    reviewed(&app, p3, manager.id, "promote_to_policy").await;
    let p4 = happened(
        &app,
        Past {
            proposer: c.id,
            category: "replacement",
            policy_ref: "REPL-1",
            amount: None,
            filed: jan(8, "12:00:00"),
            fate: Fate::Rejected {
                by: [a.id, b.id],
                after_secs: 200,
            },
            via: None,
        },
    )
    .await;
    reviewed(&app, p4, manager.id, "coach").await;
    happened(
        &app,
        Past {
            proposer: a.id,
            category: "fee_waiver",
            policy_ref: "FEE-1",
            amount: Some((500, "EUR")),
            filed: jan(9, "13:00:00"),
            fate: Fate::Withdrawn,
            via: None,
        },
    )
    .await;
    happened(
        &app,
        Past {
            proposer: b.id,
            category: "replacement",
            policy_ref: "REPL-1",
            amount: None,
            filed: jan(10, "14:00:00"),
            fate: Fate::Overdue,
            via: None,
        },
    )
    .await;
    // Outside the window: never counted.
    happened(
        &app,
        refund(
            a.id,
            (9999, "EUR"),
            at("2025-12-31T23:59:59Z"),
            Fate::Approved {
                by: b.id,
                after_secs: 5,
            },
        ),
    )
    .await;
    Known { app, a, b, c, manager }
}

const JANUARY: &str = "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z";

fn group<'a>(summary: &'a Value, key: &str) -> &'a Value {
    summary["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key}: {summary}"))
}

/// The figures that say what happened to a group: counts per status, rate, waits.
fn figures(g: &Value) -> Value {
    json!([
        g["total"],
        g["pending"],
        g["approved"],
        g["rejected"],
        g["withdrawn"],
        g["expired"],
        g["approval_rate"],
        g["median_secs_to_approval"],
        g["p90_secs_to_approval"]
    ])
}

#[tokio::test]
async fn the_summary_gives_exact_figures_per_group_and_in_total() {
    let Known { app, a, b, c, manager } = known_history().await;
    let summary = manager
        .get(&format!("/v1/reports/summary?{JANUARY}"))
        .await
        .expect(200)
        .body;
    assert_eq!(summary["group_by"], "category");
    let keys: Vec<&str> = summary["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["fee_waiver", "refund", "replacement"]);

    let refund = group(&summary, "refund");
    // Waits 60, 120, 300 s: median 120; p90 interpolated 120 + 0.8 × 180 = 264.
    assert_eq!(figures(refund), json!([3, 0, 3, 0, 0, 0, 1.0, 120.0, 264.0]));
    assert_eq!(
        refund["amounts"],
        json!([{ "currency": "EUR", "approved_minor": 3000, "executed_minor": 2500 },
               { "currency": "USD", "approved_minor": 3000, "executed_minor": 0 }])
    );
    assert_eq!(
        refund["outcomes"],
        json!({ "satisfied": 1, "neutral": 0, "dissatisfied": 1, "unknown": 0 })
    );
    assert_eq!(
        refund["verdicts"],
        json!({ "endorse": 1, "promote_to_policy": 2, "coach": 0 })
    );
    // Rejected and expired (in effect) count as decided against; withdrawn does not count.
    assert_eq!(
        figures(group(&summary, "replacement")),
        json!([2, 0, 0, 1, 0, 1, 0.0, null, null])
    );
    let fee = group(&summary, "fee_waiver");
    assert_eq!(figures(fee), json!([1, 0, 0, 0, 1, 0, null, null, null]));
    assert_eq!(
        fee["amounts"],
        json!([{ "currency": "EUR", "approved_minor": 0, "executed_minor": 0 }])
    );

    let totals = &summary["totals"];
    assert_eq!(totals["key"], Value::Null);
    assert_eq!(figures(totals), json!([6, 0, 3, 1, 1, 1, 0.6, 120.0, 264.0]));
    assert_eq!(
        totals["verdicts"],
        json!({ "endorse": 1, "promote_to_policy": 2, "coach": 1 })
    );

    // By team: the proposer's.
    let by_team = manager
        .get(&format!("/v1/reports/summary?group_by=team&{JANUARY}"))
        .await
        .expect(200)
        .body;
    assert_eq!(
        figures(group(&by_team, "billing")),
        json!([5, 0, 3, 0, 1, 1, 0.75, 120.0, 264.0])
    );
    assert_eq!(
        figures(group(&by_team, "support")),
        json!([1, 0, 0, 1, 0, 0, 0.0, null, null])
    );
    // By proposer, labelled with names.
    let by_proposer = manager
        .get(&format!("/v1/reports/summary?group_by=proposer&{JANUARY}"))
        .await
        .expect(200)
        .body;
    let ana = group(&by_proposer, &a.id.to_string());
    assert_eq!(ana["label"], "Ana Zoë");
    assert_eq!(figures(ana), json!([3, 0, 2, 0, 1, 0, 1.0, 90.0, 114.0]));
    // By co-signer: each endorser; the totals still count each proposal once.
    let by_cosigner = manager
        .get(&format!("/v1/reports/summary?group_by=cosigner&{JANUARY}"))
        .await
        .expect(200)
        .body;
    for (who, wait) in [(&a, 300.0), (&b, 60.0), (&c, 120.0)] {
        let g = group(&by_cosigner, &who.id.to_string());
        assert_eq!(figures(g), json!([1, 0, 1, 0, 0, 0, 1.0, wait, wait]), "{}", g["label"]);
    }
    assert_eq!(by_cosigner["groups"].as_array().unwrap().len(), 3);
    assert_eq!(by_cosigner["totals"]["total"], 6);
    // By policy_ref.
    let by_policy = manager
        .get(&format!("/v1/reports/summary?group_by=policy_ref&{JANUARY}"))
        .await
        .expect(200)
        .body;
    assert_eq!(group(&by_policy, "REFUND-30")["total"], 3);
    drop(app);
}

/// How long stored figures built by a test count as current.
const FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// Every summary grouping, the policy candidates, the co-sign pairs and the
/// waiting report in three time zones, over January, over a
/// window of whole and partial days and months around it, and over a window
/// of part of one day.
async fn summaries_and_candidates(manager: &User) -> Vec<Value> {
    let windows = [
        JANUARY,
        "from=2025-12-31T12:00:00Z&to=2026-03-01T00:00:00Z",
        "from=2026-01-06T09:30:00Z&to=2026-01-08T11:30:00Z",
        "from=2026-01-05T08:00:00Z&to=2026-01-05T10:00:00Z",
    ];
    let mut answers = Vec::new();
    for window in windows {
        for group_by in ["category", "policy_ref", "team", "proposer", "cosigner"] {
            let path = format!("/v1/reports/summary?group_by={group_by}&{window}");
            answers.push(manager.get(&path).await.expect(200).body);
        }
        let path = format!("/v1/reports/policy-candidates?min_count=1&{window}");
        answers.push(manager.get(&path).await.expect(200).body);
        let path = format!("/v1/reports/cosign-pairs?{window}");
        answers.push(manager.get(&path).await.expect(200).body);
        // Kathmandu is 5:45 ahead of UTC: quarters of an hour map to its hours.
        for time_zone in ["UTC", "Asia/Kathmandu", "America/New_York"] {
            let path = format!("/v1/reports/waiting?time_zone={time_zone}&{window}");
            answers.push(manager.get(&path).await.expect(200).body);
        }
    }
    answers
}

#[tokio::test]
async fn stored_figures_of_settled_days_and_months_answer_exactly_as_the_proposals_do() {
    use countersign::reports::rollups;
    let Known { app, b, manager, .. } = known_history().await;
    // The expiry worker writes the overdue proposal expired (an audit
    // event about a proposal of 10 January): let it, and the sequencer
    // chain it, before anything is stored.
    eventually(
        "the overdue proposal expired and chained",
        Duration::seconds(30).to_std().unwrap(),
        async || {
            let pending = app
                .count("SELECT count(*) FROM proposals WHERE status = 'pending'")
                .await;
            let unchained = app.count("SELECT count(*) FROM audit_unchained").await;
            (pending == 0 && unchained == 0).then_some(())
        },
    )
    .await;
    let live = summaries_and_candidates(&manager).await;
    assert_eq!(live[0]["totals"]["total"], 6, "{}", live[0]);

    // Every day from the first filing (31 December) to yesterday, and every
    // whole month among them.
    let built = rollups::build(&app.pool, 10_000, FRESH_FOR)
        .await
        .unwrap()
        .expect("nobody else builds");
    let days = app
        .count("SELECT ((now() AT TIME ZONE 'UTC')::date - date '2025-12-31')::bigint AS days")
        .await;
    assert_eq!((built.invalidated, built.days as i64), (0, days));
    assert!(built.months >= 10, "{built:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM report_periods WHERE span = 'month' AND period = '2026-01-01'")
            .await,
        1
    );
    // The January month holds the refunds of three proposers in one cell
    // per currency, with their waits.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM report_cells WHERE span = 'month' AND period = '2026-01-01' \
             AND kind = 'policy' AND key1 = 'refund' AND approval_waits = '{60,120}' AND currency = 'EUR'"
        )
        .await,
        1
    );
    let stored = summaries_and_candidates(&manager).await;
    assert_eq!(stored, live, "stored figures answer as the proposals do");

    // With no second connection free, the two halves of the summary and of
    // the waiting report run one after the other, to the same answer.
    let (from, to, now) = (
        at("2025-12-31T12:00:00Z"),
        at("2026-03-01T00:00:00Z"),
        chrono::Utc::now(),
    );
    let mut tx = countersign::reports::begin(&app.pool, 64).await.unwrap();
    let mut beside = countersign::reports::begin_beside(&app.pool, 64, &mut tx)
        .await
        .unwrap()
        .expect("a connection is free");
    let group_by = countersign::reports::GroupBy::Cosigner;
    let together = countersign::reports::summary(&mut tx, Some(&mut *beside), group_by, from, to, now)
        .await
        .unwrap();
    let alone = countersign::reports::summary(&mut tx, None, group_by, from, to, now)
        .await
        .unwrap();
    assert_eq!(format!("{together:?}"), format!("{alone:?}"));
    let together = countersign::reports::waiting(&mut tx, Some(&mut *beside), from, to, now, "Asia/Kathmandu")
        .await
        .unwrap();
    let alone = countersign::reports::waiting(&mut tx, None, from, to, now, "Asia/Kathmandu")
        .await
        .unwrap();
    assert_eq!(format!("{together:?}"), format!("{alone:?}"));
    assert_eq!(together.0.iter().map(|hour| hour.filed).sum::<i64>(), 7);
    drop((beside, tx));
    assert_eq!(
        rollups::build(&app.pool, 10_000, FRESH_FOR).await.unwrap(),
        Some(rollups::Built::default())
    );

    // An outcome recorded through the API for a January proposal: the next
    // pass learns of it from the audit chain and builds its day and month again.
    let p3: String =
        sqlx::query_scalar("SELECT id::text FROM proposals WHERE proposer_id = $1 AND category = 'refund'")
            .bind(b.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    b.record_outcome(&p3, json!({ "executed": true, "customer_outcome": "satisfied" }))
        .await
        .expect(200);
    eventually(
        "the outcome's event chained",
        Duration::seconds(10).to_std().unwrap(),
        async || (app.count("SELECT count(*) FROM audit_unchained").await == 0).then_some(()),
    )
    .await;
    let rebuilt = rollups::build(&app.pool, 10_000, FRESH_FOR).await.unwrap().unwrap();
    assert_eq!(
        rebuilt,
        rollups::Built {
            invalidated: 2,
            days: 1,
            months: 1
        }
    );
    let stored = summaries_and_candidates(&manager).await;
    assert_eq!(group(&stored[0], "refund")["outcomes"]["satisfied"], 2);

    // Stored figures are read only while a builder keeps them current: a
    // figure written into the stored January shows, until its builder's
    // time has lapsed.
    sqlx::query("UPDATE report_cells SET total = total + 1000 WHERE span = 'month' AND period = '2026-01-01' AND key1 = 'refund' AND kind = 'policy' AND currency = 'EUR'")
        .execute(&app.pool)
        .await
        .unwrap();
    let january = async || {
        manager
            .get(&format!("/v1/reports/summary?{JANUARY}"))
            .await
            .expect(200)
            .body
    };
    assert_eq!(
        group(&january().await, "refund")["total"],
        1003,
        "the stored month is read"
    );
    sqlx::query("UPDATE report_rollup_state SET fresh_until = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let summary = january().await;
    assert_eq!(group(&summary, "refund")["total"], 3, "lapsed figures are not read");
    assert_eq!(summary, stored[0]);
    rollups::drop_all(&app.pool).await.unwrap();
    assert_eq!(app.count("SELECT count(*) FROM report_cells").await, 0);
    assert_eq!(stored, summaries_and_candidates(&manager).await, "after the change too");
}

#[tokio::test]
async fn a_replica_with_an_interval_stores_the_figures_by_itself() {
    let Known { app, .. } = known_history().await;
    app.spawn_replica(|settings| settings.reports.rollup_interval_secs = 1)
        .await;
    eventually(
        "a replica stored January",
        Duration::seconds(60).to_std().unwrap(),
        async || {
            let stored = app
                .count("SELECT count(*) FROM report_periods WHERE span = 'month' AND period = '2026-01-01'")
                .await;
            (stored == 1).then_some(())
        },
    )
    .await;
    assert!(app.count("SELECT count(*) FROM report_cells").await > 0);
}

#[tokio::test]
async fn the_summary_as_csv_has_a_row_per_group_and_the_totals() {
    let Known { app: _app, manager, .. } = known_history().await;
    for request in [
        manager.request(reqwest::Method::GET, &format!("/v1/reports/summary.csv?{JANUARY}")),
        manager
            .request(reqwest::Method::GET, &format!("/v1/reports/summary?{JANUARY}"))
            .header("accept", "text/csv"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
        let text = response.text().await.unwrap();
        assert_eq!(text.matches("\r\n").count(), 5, "RFC 4180: every record ends in CRLF");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let cell = |row: &csv::StringRecord, name: &str| row[header.iter().position(|h| h == name).unwrap()].to_owned();
        assert_eq!(rows.len(), 4, "{text}");
        let refund = &rows[1];
        assert_eq!(cell(refund, "key"), "refund");
        assert_eq!(cell(refund, "approved_minor_EUR"), "3000");
        assert_eq!(cell(refund, "executed_minor_EUR"), "2500");
        assert_eq!(cell(refund, "approved_minor_USD"), "3000");
        assert_eq!(cell(refund, "p90_secs_to_approval"), "264");
        assert_eq!(cell(refund, "verdict_promote_to_policy"), "2");
        assert_eq!(cell(&rows[3], "group"), "totals");
        assert_eq!(cell(&rows[3], "total"), "6");
        assert_eq!(cell(&rows[3], "approval_rate"), "0.6");
        assert_eq!(cell(&rows[0], "approval_rate"), "", "none decided: no rate");
    }
}

#[tokio::test]
async fn the_exceptions_export_is_one_safe_csv_row_per_proposal() {
    let app = TestApp::spawn().await;
    let proposer = app
        .create_user_with("agent", json!({ "name": "Zoë \"Zo\" Ødegård, Jr.", "team": "support" }))
        .await;
    let peer = app.create_user_with("agent", json!({ "name": "=Peer" })).await;
    let manager = app.create_user("manager").await;
    let id = proposer
        .file(json!({ "summary": "=HYPERLINK(\"http://evil\")", "customer_ref": "+49 30 1234", "ticket_ref": "@T-1" }))
        .await
        .expect(201)
        .id();
    peer.cosign(&id).await.expect(200);
    proposer
        .record_outcome(
            &id,
            json!({ "executed": true, "actual_amount_minor": 4999, "currency": "EUR",
                                     "customer_outcome": "satisfied", "note": "-5 off, then\nall good, \"thanks\"" }),
        )
        .await
        .expect(200);
    manager
        .review(
            &id,
            countersign::domain::proposal::Verdict::Endorse,
            "Line one,\nline two — café",
        )
        .await
        .expect(200);
    let pending = proposer.file(json!({ "summary": "Plain one" })).await.expect(201).id();
    let overdue = proposer
        .file(json!({ "summary": "Nobody came" }))
        .await
        .expect(201)
        .id();
    app.let_deadline_pass(Some(&overdue)).await;

    let response = manager
        .request(reqwest::Method::GET, "/v1/reports/exceptions.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("exceptions.csv")
    );
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header[0], "id");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let cell = |row: &csv::StringRecord, name: &str| row[header.iter().position(|h| h == name).unwrap()].to_owned();
    let row = &rows[0];
    assert_eq!(cell(row, "id"), id);
    assert_eq!(cell(row, "status"), "approved");
    assert_eq!(cell(row, "summary"), "'=HYPERLINK(\"http://evil\")");
    assert_eq!(cell(row, "customer_ref"), "'+49 30 1234");
    assert_eq!(cell(row, "ticket_ref"), "'@T-1");
    assert_eq!(cell(row, "proposer_name"), "Zoë \"Zo\" Ødegård, Jr.");
    assert_eq!(cell(row, "proposer_team"), "support");
    assert_eq!(cell(row, "cosigners"), format!("'=Peer ({})", peer.id));
    assert_eq!(cell(row, "amount_minor"), "4999");
    assert_eq!(cell(row, "executed"), "true");
    assert_eq!(cell(row, "outcome_note"), "'-5 off, then\nall good, \"thanks\"");
    assert_eq!(cell(row, "actual_currency"), "EUR");
    assert_eq!(cell(row, "verdict"), "endorse");
    assert_eq!(cell(row, "reviewer_id"), manager.id.to_string());
    assert_eq!(cell(row, "review_note"), "Line one,\nline two — café");
    let decided = at(&cell(row, "decided_at"));
    let filed = at(&cell(row, "created_at"));
    assert!(filed <= decided && decided <= Utc::now(), "{filed} {decided}");
    assert_eq!(cell(&rows[1], "id"), pending);
    assert_eq!(cell(&rows[1], "status"), "pending");
    assert_eq!(cell(&rows[1], "decided_at"), "");
    // Past its deadline, expired in effect: decided at the deadline.
    let expires_at: DateTime<Utc> = sqlx::query_scalar("SELECT expires_at FROM proposals WHERE id = $1")
        .bind(Uuid::parse_str(&overdue).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(cell(&rows[2], "status"), "expired");
    assert_eq!(at(&cell(&rows[2], "decided_at")), expires_at);

    // An empty window: the header alone.
    let empty = manager
        .text("/v1/reports/exceptions.csv?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z")
        .await;
    assert_eq!(empty.lines().count(), 1, "{empty}");
}

#[tokio::test]
async fn reports_are_for_managers_and_name_a_bad_parameter() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("agent").await;
    let manager = app.create_user("manager").await;
    for path in [
        "/v1/reports/summary",
        "/v1/reports/summary.csv",
        "/v1/reports/policy-candidates",
        "/v1/reports/policy-candidates.csv",
        "/v1/reports/cosign-pairs",
        "/v1/reports/cosign-pairs.csv",
        "/v1/reports/waiting",
        "/v1/reports/waiting.csv",
        "/v1/reports/exceptions.csv",
    ] {
        for who in [&agent, &app.admin] {
            let refused = who.get(path).await.expect_problem(403, None);
            assert_eq!(refused.body["required_role"], "manager", "{path}");
        }
    }
    for (query, field) in [
        ("group_by=nobody", "group_by"),
        ("from=yesterday", "from"),
        ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("window=7", "window"),
        ("from=0001-01-01T00:00:00Z&to=9999-01-01T00:00:00Z", "from"),
    ] {
        manager
            .get(&format!("/v1/reports/summary?{query}"))
            .await
            .expect_problem(422, Some(field));
    }
    manager
        .get("/v1/reports/exceptions.csv?to=2026-01-01T00:00:00Z&from=2026-01-01T00:00:00Z")
        .await
        .expect_problem(422, Some("from"));
    // An empty window: no groups, totals of nothing.
    let empty = manager
        .get("/v1/reports/summary?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z")
        .await
        .expect(200)
        .body;
    assert_eq!(empty["groups"], json!([]));
    assert_eq!(figures(&empty["totals"]), json!([0, 0, 0, 0, 0, 0, null, null, null]));
    assert_eq!(empty["totals"]["amounts"], json!([]));
    // And in every other report: nothing listed, nothing counted.
    const EMPTY: &str = "from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z";
    for report in ["policy-candidates", "cosign-pairs"] {
        let empty = manager
            .get(&format!("/v1/reports/{report}?{EMPTY}"))
            .await
            .expect(200)
            .body;
        assert_eq!(empty["items"], json!([]), "{report}");
    }
    let waiting = manager
        .get(&format!("/v1/reports/waiting?{EMPTY}"))
        .await
        .expect(200)
        .body;
    assert_eq!(waiting["expired_total"], 0);
    assert_eq!(waiting["expired"], json!([]));
    for buckets in [&waiting["by_hour"], &waiting["by_weekday"]] {
        assert!(
            buckets
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["filed"] == 0 && b["decided"] == 0),
            "{buckets}"
        );
    }
    // The default window is the last 30 days, ending now.
    let default = manager.get("/v1/reports/summary").await.expect(200).body;
    let (from, to) = (
        at(default["from"].as_str().unwrap()),
        at(default["to"].as_str().unwrap()),
    );
    assert_eq!(to - from, Duration::days(30));
    assert!((Utc::now() - to).num_seconds().abs() < 60);
    // Dates are whole UTC days, `to`'s included, as on the reports page.
    let days = manager
        .get("/v1/reports/summary?from=2026-01-05&to=2026-01-31")
        .await
        .expect(200)
        .body;
    assert_eq!(
        (days["from"].as_str(), days["to"].as_str()),
        (Some("2026-01-05T00:00:00Z"), Some("2026-02-01T00:00:00Z"))
    );
    let refused = manager.get("/v1/reports/summary?from=05/01/2026").await;
    let refused = refused.expect_problem(422, Some("from"));
    assert!(
        refused.body["errors"]["from"]
            .as_str()
            .is_some_and(|why| why.contains("or a date (2026-11-01)")),
        "{}",
        refused.body
    );
}

#[tokio::test]
async fn policy_candidates_rank_recurring_exceptions_with_their_trend() {
    let Known { app: _app, manager, .. } = known_history().await;
    let report = manager
        .get(&format!("/v1/reports/policy-candidates?min_count=2&{JANUARY}"))
        .await
        .expect(200)
        .body;
    let items = report["items"].as_array().unwrap();
    let names: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i["category"].as_str().unwrap(), i["policy_ref"].as_str().unwrap()))
        .collect();
    // Two promote votes rank refunds first; fee waivers recur too rarely.
    assert_eq!(names, [("refund", "REFUND-30"), ("replacement", "REPL-1")]);
    assert_eq!(
        items[0],
        json!({
            "category": "refund", "policy_ref": "REFUND-30", "volume": 3, "approved": 3, "approval_rate": 1.0,
            "cost": [{ "currency": "EUR", "total_minor": 3000, "average_minor": 1500 },
                     { "currency": "USD", "total_minor": 3000, "average_minor": 3000 }],
            "satisfied_share": 0.5, "promote_votes": 2,
            // One refund on 31 December, in the 31 days before: 1 → 3.
            "previous_volume": 1, "trend": 2.0,
            // No standing approval yet; this drafts one.
            "standing_approval_ids": [],
            "create_standing_approval": "/v1/standing-approvals/draft?category=refund&policy_ref=REFUND-30"
        })
    );
    assert_eq!(
        items[1],
        json!({
            "category": "replacement", "policy_ref": "REPL-1", "volume": 2, "approved": 0, "approval_rate": 0.0,
            "cost": [], "satisfied_share": null, "promote_votes": 0, "previous_volume": 0, "trend": null,
            "standing_approval_ids": [],
            "create_standing_approval": "/v1/standing-approvals/draft?category=replacement&policy_ref=REPL-1"
        })
    );
    // By default three make a recurrence.
    let default = manager
        .get(&format!("/v1/reports/policy-candidates?{JANUARY}"))
        .await
        .expect(200)
        .body;
    assert_eq!(default["min_count"], 3);
    assert_eq!(default["items"].as_array().unwrap().len(), 1);
    let csv = manager
        .text(&format!("/v1/reports/policy-candidates.csv?min_count=2&{JANUARY}"))
        .await;
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "category,policy_ref,volume,approved,approval_rate,total_minor_EUR,average_minor_EUR,total_minor_GBP,\
         average_minor_GBP,total_minor_USD,average_minor_USD,satisfied_share,promote_votes,previous_volume,trend,\
         standing_approvals"
    );
    assert_eq!(
        lines.next().unwrap(),
        "refund,REFUND-30,3,3,1,3000,1500,0,0,3000,3000,0.5,2,1,2,0"
    );
    assert_eq!(lines.next().unwrap(), "replacement,REPL-1,2,0,0,0,0,0,0,0,0,,0,0,,0");
    manager
        .get("/v1/reports/policy-candidates?min_count=0")
        .await
        .expect_problem(422, Some("min_count"));
}

#[tokio::test]
async fn waiting_shows_decisions_by_hour_and_weekday_and_who_waited_for_nothing() {
    let Known {
        app: _app, b, manager, ..
    } = known_history().await;
    let report = manager
        .get(&format!("/v1/reports/waiting?{JANUARY}"))
        .await
        .expect(200)
        .body;
    assert_eq!(report["time_zone"], "UTC");
    let buckets = |by: &str| -> Vec<Value> {
        report[by]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                json!([
                    b["bucket"],
                    b["filed"],
                    b["decided"],
                    b["expired"],
                    b["median_secs_to_decision"],
                    b["median_secs_to_first_cosign"]
                ])
            })
            .collect()
    };
    // Filed Monday 09:00 … Saturday 14:00, one a day; Friday's was withdrawn.
    assert_eq!(
        buckets("by_hour"),
        [
            json!([9, 1, 1, 0, 60.0, 60.0]),
            json!([10, 1, 1, 0, 120.0, 120.0]),
            json!([11, 1, 1, 0, 300.0, 300.0]),
            json!([12, 1, 1, 0, 200.0, null]),
            json!([13, 1, 0, 0, null, null]),
            json!([14, 1, 1, 1, 1800.0, null]),
        ]
    );
    assert_eq!(
        buckets("by_weekday"),
        [
            json!([1, 1, 1, 0, 60.0, 60.0]),
            json!([2, 1, 1, 0, 120.0, 120.0]),
            json!([3, 1, 1, 0, 300.0, 300.0]),
            json!([4, 1, 1, 0, 200.0, null]),
            json!([5, 1, 0, 0, null, null]),
            json!([6, 1, 1, 1, 1800.0, null]),
        ]
    );
    assert_eq!(report["expired_total"], 1);
    assert_eq!(report["expired"][0]["proposer_id"], b.id.to_string());
    assert_eq!(report["expired"][0]["category"], "replacement");
    // In New York (UTC−5 in January) the same proposals were filed five hours earlier.
    let new_york = manager
        .get(&format!("/v1/reports/waiting?time_zone=America/New_York&{JANUARY}"))
        .await
        .expect(200)
        .body;
    let hours: Vec<&Value> = new_york["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["bucket"])
        .collect();
    assert_eq!(hours, [4, 5, 6, 7, 8, 9]);
    manager
        .get("/v1/reports/waiting?time_zone=Mars/Olympus")
        .await
        .expect_problem(422, Some("time_zone"));
    let csv = manager.text(&format!("/v1/reports/waiting.csv?{JANUARY}")).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "by,bucket,filed,decided,expired,median_secs_to_decision,p90_secs_to_decision,\
         median_secs_to_first_cosign,p90_secs_to_first_cosign,reminded,escalated,approved_alone"
    );
    assert_eq!(lines[1], "hour,9,1,1,0,60,60,60,60,0,0,0");
    assert_eq!(lines[7], "weekday,1,1,1,0,60,60,60,60,0,0,0");
    assert_eq!(lines.len(), 13);
}

#[tokio::test]
async fn cosign_pairs_show_who_signs_for_whom_and_flag_what_deserves_a_look() {
    let Known {
        app: _app,
        a,
        b,
        c,
        manager,
    } = known_history().await;
    let report = manager
        .get(&format!("/v1/reports/cosign-pairs?{JANUARY}"))
        .await
        .expect(200)
        .body;
    let pairs: Vec<Value> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            json!([
                p["proposer_id"],
                p["cosigner_id"],
                p["cosigned"],
                p["approvals"],
                p["through_one_integration"],
                p["proposer_approvals"],
                p["share_of_approvals"],
                p["reciprocal"],
                p["median_secs_to_cosign"],
                p["flags"]
            ])
        })
        .collect();
    let id = |user: &User| json!(user.id.to_string());
    // Bo's one approval is all Ana's doing (but Bo has fewer than two
    // approvals: no flag for that); Ana's two are split between Bo and Cy;
    // Ana and Bo sign each other's; Bo signed Ana's within 100 s; Cy's
    // co-sign of Ana's came through the helpdesk integration that filed it.
    assert_eq!(
        pairs,
        [
            json!([id(&b), id(&a), 1, 1, 0, 1, 1.0, 1, 300.0, ["mutual"]]),
            json!([
                id(&a),
                id(&b),
                1,
                1,
                0,
                2,
                0.5,
                1,
                60.0,
                ["concentrated", "fast", "mutual"]
            ]),
            json!([
                id(&a),
                id(&c),
                1,
                1,
                1,
                2,
                0.5,
                0,
                120.0,
                ["concentrated", "one_integration"]
            ]),
        ]
    );
    assert_eq!(report["items"][1]["proposer_name"], "Ana Zoë");
    let top = manager
        .get(&format!("/v1/reports/cosign-pairs?top=1&{JANUARY}"))
        .await
        .expect(200)
        .body;
    assert_eq!(top["items"].as_array().unwrap().len(), 1);
    assert_eq!(top["items"][0]["proposer_id"], b.id.to_string());
    manager
        .get("/v1/reports/cosign-pairs?limit=0")
        .await
        .expect_problem(422, Some("limit"));
    assert_eq!(report["items"][1]["cosigner_name"], "Bo");
    let csv = manager.text(&format!("/v1/reports/cosign-pairs.csv?{JANUARY}")).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[2],
        format!("{},Ana Zoë,{},Bo,1,1,0,2,0.5,1,60,concentrated fast mutual", a.id, b.id)
    );
}

#[tokio::test]
async fn only_endorsements_of_the_revision_decided_on_count_and_every_payment_has_its_currency() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    let proposer = app.create_user_with("agent", json!({ "team": "=ops" })).await;
    let (early, late) = (app.create_user("agent").await, app.create_user("agent").await);
    // Endorsed at revision 1 by `early`, revised materially, approved at
    // revision 2 by `late`: `early` agreed to a text that was not approved.
    let id = proposer.file(json!({ "amount_minor": 60000 })).await.expect(201).id();
    early.cosign_revision(&id, 1).await.expect(200);
    proposer.revise(&id, json!({ "amount_minor": 70000 })).await.expect(200);
    late.cosign_revision(&id, 2).await.expect(200);
    let now_read = app.admin.get(&format!("/v1/proposals/{id}")).await.expect(200).body;
    assert_eq!(now_read["required_cosigners"], 2);
    let other = app.create_user("agent").await;
    other.cosign_revision(&id, 2).await.expect(200);
    // A replacement (no amount) paid out in USD all the same.
    let replacement = proposer
        .file(json!({ "category": "replacement", "amount_minor": null, "currency": null }))
        .await
        .expect(201)
        .id();
    late.cosign(&replacement).await.expect(200);
    proposer
        .record_outcome(
            &replacement,
            json!({ "executed": true, "actual_amount_minor": 700, "currency": "USD",
                                              "customer_outcome": "neutral" }),
        )
        .await
        .expect(200);

    let by_cosigner = manager
        .get("/v1/reports/summary?group_by=cosigner")
        .await
        .expect(200)
        .body;
    let cosigners: Vec<&str> = by_cosigner["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    let mut expected = vec![late.id.to_string(), other.id.to_string()];
    expected.sort();
    assert_eq!(
        cosigners, expected,
        "the revision-1 endorser is not a co-signer of what was approved"
    );
    let totals = manager.get("/v1/reports/summary").await.expect(200).body["totals"].clone();
    assert_eq!(
        totals["amounts"],
        json!([{ "currency": "EUR", "approved_minor": 70000, "executed_minor": 0 },
               { "currency": "USD", "approved_minor": 0, "executed_minor": 700 }])
    );
    let pairs = manager.get("/v1/reports/cosign-pairs").await.expect(200).body;
    assert!(
        pairs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["cosigner_id"] != early.id.to_string()),
        "{pairs}"
    );
    let csv = manager.text("/v1/reports/exceptions.csv").await;
    assert!(!csv.contains(&early.id.to_string()));
    assert!(csv.contains(&late.id.to_string()));
    // A team that looks like a formula is shown, not run.
    let by_team = manager.text("/v1/reports/summary.csv?group_by=team").await;
    assert!(by_team.contains("\r\ngroup,'=ops,"), "{by_team}");
}

#[tokio::test]
async fn the_export_streams_page_after_page_and_refuses_a_crowd() {
    let app = TestApp::spawn_with(|settings| settings.reports.max_concurrent_exports = 1).await;
    let manager = app.create_user("manager").await;
    let agent = app.create_user("agent").await;
    // More rows than one page of the cursor.
    sqlx::query(
        "INSERT INTO proposals (id, proposer_id, category, policy_ref, summary, resolution, justification, \
         required_cosigners, declines_to_reject, created_at, updated_at, expires_at) \
         SELECT countersign_uuid_v7(t), $1, 'other', 'BULK', format('Case %s', n), 'r', 'j', 1, 2, t, t, \
                t + interval '30 minutes' \
         FROM generate_series(1, 1234) AS n, LATERAL (SELECT now() - n * interval '1 minute' AS t) times",
    )
    .bind(agent.id)
    .execute(&app.pool)
    .await
    .unwrap();
    let response = manager
        .request(reqwest::Method::GET, "/v1/reports/exceptions.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let summaries: Vec<String> = reader.records().map(|r| r.unwrap()[4].to_owned()).collect();
    assert_eq!(summaries.len(), 1234);
    assert_eq!(summaries[0], "Case 1234", "oldest first");
    assert_eq!(summaries[1233], "Case 1");
    // Compressed, as a browser asks for it: the stream ends cleanly.
    let gzipped = manager
        .request(reqwest::Method::GET, "/v1/reports/exceptions.csv")
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let bytes = gzipped.bytes().await.expect("the whole compressed body arrives");
    assert!(bytes.len() > 1000);
    // While as many exports run as allowed (here one: its slot taken as a
    // running export takes it), another is refused, plainly.
    let running = app
        .state
        .export_slots
        .clone()
        .try_acquire_owned()
        .expect("no export is running");
    manager
        .get("/v1/reports/exceptions.csv")
        .await
        .expect_problem(503, None);
    drop(running);
    // Once it is done, the slot is free again.
    crate::helpers::eventually(
        "the export slot to be free",
        std::time::Duration::from_secs(5),
        async || {
            let answer = manager
                .request(reqwest::Method::GET, "/v1/reports/exceptions.csv")
                .send()
                .await
                .unwrap();
            let ok = answer.status() == 200;
            let _ = answer.text().await;
            ok.then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn the_seed_command_fills_an_empty_database_through_the_rules_once() {
    let app = TestApp::spawn().await;
    let manager = app.create_user("manager").await;
    use sqlx::ConnectOptions;
    let url = app.pool.connect_options().to_url_lossy().to_string();
    let seed = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_countersign"))
            // More ticket locks than a default server's lock table holds
            // at once (the server run of the tests fails on one
            // transaction for all).
            .args(["seed", "--proposals", "20000", "--days", "60"])
            .env("DATABASE_URL", &url)
            .env("COUNTERSIGN_SECRETS__KEY", crate::helpers::TEST_SEALING_KEY)
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    };
    // As if a service beside it had stored a day before the seed was done.
    sqlx::query("INSERT INTO report_periods (span, period, built_at) VALUES ('day', current_date - 1, now())")
        .execute(&app.pool)
        .await
        .unwrap();
    let first = seed();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 20000);
    assert_eq!(
        app.count("SELECT count(*) FROM report_periods").await,
        0,
        "figures stored during the seed are dropped"
    );
    // Every fate, with what each needs: endorsements for approvals, two
    // declines for rejections, outcomes for approved ones only, reviews of
    // decided ones by managers who took no part.
    let fates: Vec<(String, i64)> = sqlx::query_as("SELECT status, count(*) FROM proposals GROUP BY 1 ORDER BY 1")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    // (Pending ones only in the last half hour: at this size, perhaps none.)
    let decided: Vec<&str> = fates
        .iter()
        .map(|(status, _)| status.as_str())
        .filter(|status| *status != "pending")
        .collect();
    assert_eq!(decided, ["approved", "expired", "rejected", "withdrawn"], "{fates:?}");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM proposals p WHERE status = 'approved' AND (SELECT count(*) FROM signatures s \
             WHERE s.proposal_id = p.id AND s.decision = 'endorse') <> p.required_cosigners"
        )
        .await,
        0
    );
    assert!(app.count("SELECT count(*) FROM proposal_outcomes").await > 0);
    assert!(app.count("SELECT count(*) FROM proposal_reviews").await > 0);
    assert_eq!(
        app.count("SELECT count(*) FROM proposals WHERE decided_at > now() OR created_at > now()")
            .await,
        0,
        "nothing in the future"
    );
    // The reports read it.
    let summary = manager.get("/v1/reports/summary?group_by=team").await.expect(200).body;
    assert!(
        summary["totals"]["total"].as_i64().unwrap() > 8000,
        "{}",
        summary["totals"]
    );
    // A database holding proposals is refused.
    let again = seed();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds 20000 proposals"));
    assert_eq!(app.count("SELECT count(*) FROM proposals").await, 20000);
}

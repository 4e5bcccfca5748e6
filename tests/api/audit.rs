//! The audit chain: it verifies after concurrent writers, and a superuser's
//! rewrite of an event or a link, or links cut off its end, are detected
//! (the last against an anchor kept outside Countersign).

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Answer, TestApp};

/// What only a superuser could do: rewrite an append-only table with its
/// guarding trigger switched off for one transaction.
async fn tamper(app: &TestApp, table: &str, update: String) {
    let sql = format!(
        "BEGIN; ALTER TABLE {table} DISABLE TRIGGER {table}_append_only; {update}; \
         ALTER TABLE {table} ENABLE TRIGGER {table}_append_only; COMMIT;"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&app.pool)
        .await
        .expect("the superuser's rewrite runs");
}

#[tokio::test]
async fn the_audit_chain_verifies_after_concurrent_writers_and_detects_tampering() {
    let app = TestApp::spawn().await;
    let proposer = app.create_user("agent").await;
    let peers = app.create_users("agent", 8).await;
    let filings = (0..8).map(|_| proposer.file(json!({})));
    let ids: Vec<String> = futures_util::future::join_all(filings)
        .await
        .iter()
        .map(Answer::id)
        .collect();
    let cosigns = ids.iter().zip(&peers).map(|(id, peer)| peer.cosign(id));
    for answer in futures_util::future::join_all(cosigns).await {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    app.wait_until_chained().await;
    let answer = app.admin.get("/v1/audit/verify").await.expect(200);
    let verified = answer.verification();
    assert!(verified.valid, "{}", answer.body);
    let total = app.count("SELECT count(*) FROM audit_events").await;
    assert_eq!(i64::try_from(verified.events_checked).unwrap(), total);
    assert_eq!(verified.first_broken_event_id, None);

    // A superuser rewrites an approval's payload with the trigger disabled.
    let victim: Uuid =
        sqlx::query_scalar("SELECT id FROM audit_events WHERE event_type = 'proposal.approved' ORDER BY id LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    tamper(
        &app,
        "audit_events",
        format!("UPDATE audit_events SET payload = '{{\"forged\": true}}' WHERE id = '{victim}'"),
    )
    .await;
    // Verified again from the start: a rewrite of what was verified before.
    let broken = app
        .admin
        .get("/v1/audit/verify?full=true")
        .await
        .expect(200)
        .verification();
    assert!(!broken.valid);
    assert_eq!(broken.first_broken_event_id, Some(victim));
}

/// A superuser runs `statement` on the chain link at `seq` (an UPDATE or
/// DELETE of `audit_chain`, to which `WHERE seq = …` is added); answers the
/// link's event.
async fn tamper_link(app: &TestApp, seq: i64, statement: &str) -> Uuid {
    let event: Uuid = sqlx::query_scalar("SELECT event_id FROM audit_chain WHERE seq = $1")
        .bind(seq)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    tamper(app, "audit_chain", format!("{statement} WHERE seq = {seq}")).await;
    event
}

const FORGE_LINK: &str = "UPDATE audit_chain SET chain_hash = sha256('forged')";

#[tokio::test]
async fn only_an_admin_verifies_the_chain() {
    let app = TestApp::spawn().await;
    let (agent, manager) = (app.create_user("agent").await, app.create_user("manager").await);
    for who in [&agent, &manager] {
        who.get("/v1/audit/verify").await.expect_problem(403, None);
    }
}

#[tokio::test]
async fn a_tampered_chain_row_is_detected() {
    let app = TestApp::spawn().await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    app.approved_proposal(&proposer, &peer).await;
    app.wait_until_chained().await;
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM audit_chain ORDER BY seq DESC LIMIT 1 OFFSET 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let event = tamper_link(&app, seq, FORGE_LINK).await;
    let broken = app
        .admin
        .get("/v1/audit/verify?full=true")
        .await
        .expect(200)
        .verification();
    assert!(!broken.valid);
    assert_eq!(broken.first_broken_event_id, Some(event));
}

#[tokio::test]
async fn links_cut_off_the_end_are_detected_against_an_anchor() {
    // The background verifier stays asleep, so only the anchor can tell.
    let app = TestApp::spawn_with(|s| s.audit.verify_interval_secs = 3600).await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    app.approved_proposal(&proposer, &peer).await;
    app.wait_until_chained().await;
    let head = app
        .admin
        .get("/v1/audit/verify")
        .await
        .expect(200)
        .verification()
        .head
        .expect("a head once events are chained");
    let (seq, hash) = (head.seq, head.chain_hash);
    assert_eq!(seq, app.count("SELECT max(seq) FROM audit_chain").await);
    let anchored = format!("/v1/audit/verify?anchor_seq={seq}&anchor_hash={hash}");
    let answer = app.admin.get(&anchored).await.expect(200);
    assert!(answer.verification().valid, "{}", answer.body);

    // The newest link and its event go; the rest of the chain still adds up.
    let event = tamper_link(&app, seq, "DELETE FROM audit_chain").await;
    // A link gone but its event still there: the event is unaccounted for.
    let half = app.admin.get("/v1/audit/verify").await.expect(200).verification();
    assert!(!half.valid);
    assert_eq!(half.unaccounted_events, vec![event]);
    tamper(
        &app,
        "audit_events",
        format!("DELETE FROM audit_events WHERE id = '{event}'"),
    )
    .await;
    let unanchored = app.admin.get("/v1/audit/verify").await.expect(200).verification();
    assert!(unanchored.valid, "without an anchor the cut is invisible");
    let answer = app.admin.get(&anchored).await.expect(200);
    let cut = answer.verification();
    assert!(!cut.valid);
    assert!(
        cut.broken_reason.expect("a reason").contains("before the anchor"),
        "{}",
        answer.body
    );

    let wrong = format!(
        "/v1/audit/verify?anchor_seq={}&anchor_hash={}",
        seq - 1,
        "ab".repeat(32)
    );
    let differs = app.admin.get(&wrong).await.expect(200).verification();
    assert!(!differs.valid);
    assert!(
        differs
            .broken_reason
            .expect("a reason")
            .contains("differs from the anchor")
    );
}

#[tokio::test]
async fn a_malformed_anchor_is_named() {
    let app = TestApp::spawn().await;
    let zero = format!("anchor_seq=0&anchor_hash={}", "ab".repeat(32));
    for (query, field) in [
        ("anchor_seq=3", "anchor_hash"),
        ("anchor_hash=abcd", "anchor_seq"),
        ("anchor_seq=3&anchor_hash=abcd", "anchor_hash"),
        (zero.as_str(), "anchor_seq"),
    ] {
        app.admin
            .get(&format!("/v1/audit/verify?{query}"))
            .await
            .expect_problem(422, Some(field));
    }
}

/// Adds an event and its queue entry, then lets `then` run in the same
/// transaction; answers the event's id and what `then` answered.
async fn queued_event(app: &TestApp, then: &str) -> (Uuid, sqlx::Result<()>) {
    let event = countersign::domain::audit::EventContent::new(
        countersign::domain::event::EventType::EmployeeUpdated,
        app.admin.id,
        countersign::domain::audit::ActorIds::default(),
        json!({ "probe": true }),
        chrono::Utc::now(),
    );
    let mut tx = app.pool.begin().await.unwrap();
    countersign::db::audit::record(&mut tx, std::slice::from_ref(&event), &[])
        .await
        .unwrap();
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(then.replace("{event}", &event.id.to_string())))
        .execute(&mut *tx)
        .await
        .map(|_| ());
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    (event.id, result)
}

#[tokio::test]
async fn an_event_leaves_the_queue_only_once_chained_and_one_removed_is_caught() {
    let app = TestApp::spawn().await;
    // Any session may take the sequencer's lock; none may drop a queued event.
    let (_, refused) = queued_event(&app, "DELETE FROM audit_unchained WHERE event_id = '{event}'").await;
    let message = refused.expect_err("the schema refuses").to_string();
    assert!(message.contains("only once it is chained"), "{message}");

    // Only a superuser with the trigger off can; verification then names it.
    let (removed, done) = queued_event(
        &app,
        "ALTER TABLE audit_unchained DISABLE TRIGGER audit_unchained_until_chained; \
         DELETE FROM audit_unchained WHERE event_id = '{event}'; \
         ALTER TABLE audit_unchained ENABLE TRIGGER audit_unchained_until_chained;",
    )
    .await;
    done.expect("the superuser's delete runs");
    app.wait_until_chained().await;
    let verified = app.admin.get("/v1/audit/verify").await.expect(200).verification();
    assert!(!verified.valid);
    assert_eq!(verified.unaccounted_events, vec![removed]);
}

/// What someone who owns the tables but not the key can do: rewrite an
/// event, recompute its hash and every later link the unkeyed way.
async fn rewrite_event_and_relink(app: &TestApp, victim_seq: i64) -> Uuid {
    let links: Vec<(i64, Uuid)> = sqlx::query_as("SELECT seq, event_id FROM audit_chain ORDER BY seq")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let victim = links.iter().find(|(seq, _)| *seq == victim_seq).unwrap().1;
    let mut previous: Vec<u8> = if victim_seq == 1 {
        countersign::domain::audit::GENESIS.to_vec()
    } else {
        sqlx::query_scalar("SELECT chain_hash FROM audit_chain WHERE seq = $1")
            .bind(victim_seq - 1)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let mut sql = String::from(
        "BEGIN; ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only; \
         ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_append_only;",
    );
    let forged = json!({ "forged": true });
    for (seq, event_id) in links.iter().filter(|(seq, _)| *seq >= victim_seq) {
        let row: (
            chrono::DateTime<chrono::Utc>,
            String,
            String,
            Uuid,
            Option<Uuid>,
            Option<Uuid>,
            serde_json::Value,
        ) = sqlx::query_as(
            "SELECT occurred_at, event_type, subject_type, subject_id, actor_employee_id, via_integration_id, payload
                 FROM audit_events WHERE id = $1",
        )
        .bind(event_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        let content = countersign::domain::audit::EventContent {
            id: *event_id,
            occurred_at: row.0,
            event_type: row.1,
            subject_type: row.2,
            subject_id: row.3,
            actor_employee_id: row.4,
            via_integration_id: row.5,
            payload: if *event_id == victim { forged.clone() } else { row.6 },
        };
        let hash = content.hash();
        previous = countersign::domain::audit::chain_hash(&previous, &hash).to_vec();
        if *event_id == victim {
            sql.push_str(&format!(
                "UPDATE audit_events SET payload = '{forged}', content_hash = '\\x{}' WHERE id = '{event_id}';",
                hex::encode(hash)
            ));
        }
        sql.push_str(&format!(
            "UPDATE audit_chain SET chain_hash = '\\x{}' WHERE seq = {seq};",
            hex::encode(&previous)
        ));
    }
    sql.push_str(
        "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only; \
         ALTER TABLE audit_chain ENABLE TRIGGER audit_chain_append_only; COMMIT;",
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&app.pool)
        .await
        .unwrap();
    victim
}

#[tokio::test]
async fn without_a_key_a_relinked_rewrite_verifies_and_with_one_it_does_not() {
    for keyed in [false, true] {
        let app = TestApp::spawn_with(|s| {
            if keyed {
                s.audit.chain_key = "a secret kept outside the database, 32+".to_owned();
            }
        })
        .await;
        let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
        app.approved_proposal(&proposer, &peer).await;
        app.wait_until_chained().await;
        let before = app
            .admin
            .get("/v1/audit/verify?full=true")
            .await
            .expect(200)
            .verification();
        assert!(before.valid && before.keyed == keyed, "keyed {keyed}");
        let victim = rewrite_event_and_relink(&app, 2).await;
        let after = app
            .admin
            .get("/v1/audit/verify?full=true")
            .await
            .expect(200)
            .verification();
        if keyed {
            assert!(!after.valid, "a keyed chain cannot be relinked without the key");
            assert_eq!(after.first_broken_event_id, Some(victim));
        } else {
            assert!(after.valid, "the weakness a key closes: an owner relinks a plain chain");
        }
    }
}

#[tokio::test]
async fn each_replica_keeps_its_verification_current_and_exports_the_head() {
    let app = TestApp::spawn_with(|s| {
        s.audit.verify_interval_secs = 1;
        s.audit.head_export_interval_secs = 1;
    })
    .await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    app.approved_proposal(&proposer, &peer).await;
    app.wait_until_chained().await;
    let newest = app.count("SELECT max(seq) FROM audit_chain").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let progress = app.state.audit_progress.lock().unwrap().clone();
        if progress.head.as_ref().is_some_and(|(seq, _)| *seq >= newest) {
            assert!(progress.broken.is_none());
            assert!(progress.last_full_check.is_some());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the verifier did not catch up");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let answer = app.admin.get("/v1/audit/verify").await.expect(200).verification();
    assert!(answer.valid && answer.complete);
    assert!(answer.last_full_check_at.is_some());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !crate::helpers::captured_logs().contains("audit chain head") {
        assert!(std::time::Instant::now() < deadline, "the head was never exported");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A full check answers in bounded time: a page of links per request, each
/// next page resuming from the head the previous one answered, which must
/// still be stored as it was. A rewrite on a later page is found on that
/// page; a resume point that is not the stored link is refused as broken.
#[tokio::test]
async fn a_full_check_goes_page_by_page_and_finds_a_rewrite_on_a_later_page() {
    const PAGE: u64 = 4;
    let app = TestApp::spawn_with(|s| s.audit.full_check_page_links = PAGE).await;
    let (proposer, peer) = (app.create_user("agent").await, app.create_user("agent").await);
    app.approved_proposal(&proposer, &peer).await;
    app.approved_proposal(&proposer, &peer).await;
    app.wait_until_chained().await;
    let links = u64::try_from(app.count("SELECT count(*) FROM audit_chain").await).unwrap();
    assert!(links > 2 * PAGE, "{links} links: three pages or more");

    let page_from = |resume: Option<(i64, String)>| {
        let query = match resume {
            None => "full=true".to_owned(),
            Some((seq, hash)) => format!("full=true&resume_seq={seq}&resume_hash={hash}"),
        };
        let admin = &app.admin;
        async move {
            admin
                .get(&format!("/v1/audit/verify?{query}"))
                .await
                .expect(200)
                .verification()
        }
    };
    let mut resume = None;
    let mut pages = Vec::new();
    loop {
        let page = page_from(resume.clone()).await;
        assert!(page.valid, "page {}: {:?}", pages.len() + 1, page.broken_reason);
        let head = page.head.as_ref().expect("a page ends at a link");
        resume = Some((head.seq, head.chain_hash.clone()));
        pages.push((page.complete, page.events_checked, head.seq));
        if page.complete {
            break;
        }
    }
    let expected: Vec<(bool, u64, i64)> = (1..=links.div_ceil(PAGE))
        .map(|n| {
            let end = (n * PAGE).min(links);
            (end == links, end, i64::try_from(end).unwrap())
        })
        .collect();
    assert_eq!(pages, expected, "pages of {PAGE} links, the last one complete");

    // A link on the second page rewritten: the first page still verifies,
    // the second names the link.
    let event = tamper_link(&app, i64::try_from(PAGE).unwrap() + 2, FORGE_LINK).await;
    let first = page_from(None).await;
    assert!(first.valid && !first.complete);
    let head = first.head.expect("the first page's head");
    let second = page_from(Some((head.seq, head.chain_hash.clone()))).await;
    assert!(!second.valid);
    assert_eq!(second.first_broken_event_id, Some(event));

    // Resuming from a link that is not stored as named is no verification.
    let elsewhere = page_from(Some((head.seq, "0".repeat(64)))).await;
    assert!(!elsewhere.valid);
    let reason = elsewhere.broken_reason.expect("a reason");
    assert!(reason.contains("previous page"), "{reason}");

    // A resume point continues a full check, with or without full=true,
    // and comes whole.
    let hash = head.chain_hash;
    let implied = app
        .admin
        .get(&format!("/v1/audit/verify?resume_seq={}&resume_hash={hash}", head.seq))
        .await
        .expect(200)
        .verification();
    assert_eq!(implied.first_broken_event_id, Some(event), "the second page, checked");
    for (query, field) in [
        (format!("full=true&resume_seq={}", head.seq), "resume_hash"),
        (format!("full=true&resume_hash={hash}"), "resume_seq"),
        (format!("full=true&resume_seq=0&resume_hash={hash}"), "resume_seq"),
    ] {
        app.admin
            .get(&format!("/v1/audit/verify?{query}"))
            .await
            .expect_problem(422, Some(field));
    }
}

SELECT p.id, countersign_effective_status(p.status, p.expires_at, $3) AS status,
       p.category, p.policy_ref, p.summary, p.customer_ref, p.ticket_ref, p.amount_minor, p.currency,
       p.required_cosigners, p.revision, p.proposer_id, e.name AS proposer_name, e.team AS proposer_team,
       (SELECT string_agg(c.name || ' (' || c.id || ')', '; ' ORDER BY s.created_at)
          FROM signatures s JOIN employees c ON c.id = s.employee_id
         WHERE s.proposal_id = p.id AND s.revision = p.revision AND s.decision = 'endorse') AS cosigners,
       p.created_at,
       coalesce(p.decided_at, CASE WHEN p.status = 'pending' AND p.expires_at <= $3 THEN p.expires_at END)
           AS decided_at,
       o.executed, o.actual_amount_minor, o.currency AS actual_currency, o.customer_outcome,
       o.note AS outcome_note, r.verdict, r.reviewer_id, rv.name AS reviewer_name, r.note AS review_note,
       r.reviewed_at
FROM proposals p
JOIN employees e ON e.id = p.proposer_id
LEFT JOIN proposal_outcomes o ON o.proposal_id = p.id
LEFT JOIN proposal_reviews r ON r.proposal_id = p.id
LEFT JOIN employees rv ON rv.id = r.reviewer_id
WHERE p.created_at >= $1 AND p.created_at < $2
ORDER BY p.created_at, p.id

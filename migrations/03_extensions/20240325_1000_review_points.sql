-- message: Award points for past reviews (ledger backfill)
-- parents: 20240318_1400_backfill_display_name
-- up
ALTER TABLE points_ledger ADD COLUMN review_id bigint REFERENCES reviews (id) ON DELETE SET NULL;

-- Backfill: one ledger entry per existing review; approvals are worth more.
INSERT INTO points_ledger (user_id, delta, reason, review_id, created_at)
SELECT r.reviewer_id,
       CASE r.verdict WHEN 'approved' THEN 10 ELSE 5 END,
       'review backfill; pr #' || pr.number,
       r.id,
       r.submitted_at
FROM reviews r
JOIN pull_requests pr ON pr.id = r.pull_request_id;
-- down
-- Remove exactly the rows the backfill created, then the column.
DELETE FROM points_ledger WHERE review_id IS NOT NULL AND reason LIKE 'review backfill; pr #%';
ALTER TABLE points_ledger DROP COLUMN review_id;

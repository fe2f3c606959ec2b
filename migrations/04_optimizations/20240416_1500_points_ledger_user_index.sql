-- message: Build points_ledger user index concurrently (no write lock)
-- parents: 20240409_1100_pull_request_indexes
-- transaction: none
-- up
CREATE INDEX CONCURRENTLY IF NOT EXISTS points_ledger_user_created_idx ON points_ledger (user_id, created_at);
-- down
DROP INDEX CONCURRENTLY IF EXISTS points_ledger_user_created_idx;

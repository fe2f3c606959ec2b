-- message: Index notifications for inbox queries
-- parents: 20240325_1000_review_points
-- transaction: none
-- up
-- Built CONCURRENTLY, outside a transaction, so inserts into notifications never wait;
-- IF NOT EXISTS lets a re-run after a failure pick up where it stopped.
-- Partial index backs the unread_notifications view.
CREATE INDEX CONCURRENTLY IF NOT EXISTS notifications_user_unread_idx
    ON notifications (user_id, created_at DESC)
    WHERE read_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS notifications_user_created_idx
    ON notifications (user_id, created_at DESC);
-- down
DROP INDEX CONCURRENTLY IF EXISTS notifications_user_created_idx;
DROP INDEX CONCURRENTLY IF EXISTS notifications_user_unread_idx;

-- message: Index notifications for inbox queries
-- parents: 20240325_1000_review_points
-- up
-- Partial index backs the unread_notifications view.
CREATE INDEX notifications_user_unread_idx
    ON notifications (user_id, created_at DESC)
    WHERE read_at IS NULL;
CREATE INDEX notifications_user_created_idx ON notifications (user_id, created_at DESC);
-- down
DROP INDEX notifications_user_created_idx;
DROP INDEX notifications_user_unread_idx;

-- message: Notification system with unread view
-- parents: 20240119_1400_user_avatar
-- up
CREATE TYPE notification_kind AS ENUM ('mention', 'review_requested', 'review_submitted', 'system');

CREATE TABLE notifications (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        notification_kind NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL DEFAULT '',
    read_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A notification is unread until read_at is set.
CREATE VIEW unread_notifications AS
SELECT n.id, n.user_id, u.username, n.kind, n.title, n.created_at
FROM notifications n
JOIN users u ON u.id = n.user_id
WHERE n.read_at IS NULL;
-- down
DROP VIEW unread_notifications;
DROP TABLE notifications;
DROP TYPE notification_kind;

-- message: 添加用户积分账本
-- parents: 20240228_1000_reviews
-- up
-- Append-only ledger: balances are always derived, never stored.
CREATE TABLE points_ledger (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    delta       integer NOT NULL CHECK (delta <> 0),
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE points_ledger IS 'Append-only; never UPDATE or DELETE rows; post a correcting entry instead.';

CREATE FUNCTION award_points(p_user_id bigint, p_delta integer, p_reason text)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_id bigint;
BEGIN
    IF p_delta = 0 THEN
        RAISE EXCEPTION 'award_points: delta must be non-zero; user %', p_user_id;
    END IF;
    INSERT INTO points_ledger (user_id, delta, reason)
    VALUES (p_user_id, p_delta, coalesce(nullif(p_reason, ''), 'unspecified; manual award'))
    RETURNING id INTO v_id;
    RETURN v_id;
END;
$$;

CREATE VIEW user_point_balances AS
SELECT u.id AS user_id, u.username, coalesce(sum(l.delta), 0)::bigint AS balance
FROM users u
LEFT JOIN points_ledger l ON l.user_id = u.id
GROUP BY u.id, u.username;
-- down
DROP VIEW user_point_balances;
DROP FUNCTION award_points(bigint, integer, text);
DROP TABLE points_ledger;

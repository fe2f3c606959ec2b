-- message: Pull-request tracking
-- parents: 20240214_1100_repositories
-- up
CREATE TYPE pr_state AS ENUM ('open', 'merged', 'closed');

CREATE TABLE pull_requests (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id   bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    author_id       bigint NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    number          integer NOT NULL CHECK (number > 0),
    title           text NOT NULL,
    state           pr_state NOT NULL DEFAULT 'open',
    opened_at       timestamptz NOT NULL DEFAULT now(),
    merged_at       timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (repository_id, number),
    CHECK ((state = 'merged') = (merged_at IS NOT NULL))
);

CREATE TRIGGER pull_requests_set_updated_at
    BEFORE UPDATE ON pull_requests
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
-- down
DROP TRIGGER pull_requests_set_updated_at ON pull_requests;
DROP TABLE pull_requests;
DROP TYPE pr_state;

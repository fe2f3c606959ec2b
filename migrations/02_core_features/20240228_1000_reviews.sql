-- message: Pull-request reviews
-- parents: 20240221_1500_pull_requests
-- up
CREATE TYPE review_verdict AS ENUM ('commented', 'approved', 'changes_requested');

CREATE TABLE reviews (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pull_request_id  bigint NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    reviewer_id      bigint NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    verdict          review_verdict NOT NULL,
    body             text NOT NULL DEFAULT '',
    submitted_at     timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE reviews IS 'One row per submitted review; a reviewer may review a PR several times.';
-- down
DROP TABLE reviews;
DROP TYPE review_verdict;

-- message: Index pull requests and reviews by foreign keys
-- parents: 20240402_0900_notification_indexes
-- transaction: none
-- up
-- Each index is built CONCURRENTLY and commits on its own: writes go on meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS pull_requests_author_idx ON pull_requests (author_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS pull_requests_open_idx
    ON pull_requests (repository_id, opened_at DESC) WHERE state = 'open';
CREATE INDEX CONCURRENTLY IF NOT EXISTS reviews_pull_request_idx
    ON reviews (pull_request_id, submitted_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS reviews_reviewer_idx ON reviews (reviewer_id);
-- down
DROP INDEX CONCURRENTLY IF EXISTS reviews_reviewer_idx;
DROP INDEX CONCURRENTLY IF EXISTS reviews_pull_request_idx;
DROP INDEX CONCURRENTLY IF EXISTS pull_requests_open_idx;
DROP INDEX CONCURRENTLY IF EXISTS pull_requests_author_idx;

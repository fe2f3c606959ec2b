-- message: Index pull requests and reviews by foreign keys
-- parents: 20240402_0900_notification_indexes
-- up
CREATE INDEX pull_requests_author_idx ON pull_requests (author_id);
CREATE INDEX pull_requests_open_idx ON pull_requests (repository_id, opened_at DESC) WHERE state = 'open';
CREATE INDEX reviews_pull_request_idx ON reviews (pull_request_id, submitted_at);
CREATE INDEX reviews_reviewer_idx ON reviews (reviewer_id);
-- down
DROP INDEX reviews_reviewer_idx;
DROP INDEX reviews_pull_request_idx;
DROP INDEX pull_requests_open_idx;
DROP INDEX pull_requests_author_idx;

-- message: Track repositories
-- parents: 20240205_0930_notifications
-- up
CREATE TABLE repositories (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id    bigint NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    name        text NOT NULL,
    is_private  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner_id, name)
);

CREATE TRIGGER repositories_set_updated_at
    BEFORE UPDATE ON repositories
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
-- down
DROP TRIGGER repositories_set_updated_at ON repositories;
DROP TABLE repositories;

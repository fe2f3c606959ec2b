-- message: Add profiles (one per user)
-- parents: 20240105_0900_initial_users
-- up
CREATE TABLE profiles (
    user_id     bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    full_name   text,
    bio         text NOT NULL DEFAULT '',
    location    text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER profiles_set_updated_at
    BEFORE UPDATE ON profiles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
-- down
DROP TRIGGER profiles_set_updated_at ON profiles;
DROP TABLE profiles;

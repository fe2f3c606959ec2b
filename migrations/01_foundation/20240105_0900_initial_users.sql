-- message: Create users table, user_role enum and updated_at trigger function
-- parents:
-- up
CREATE TYPE user_role AS ENUM ('member', 'maintainer', 'admin');

-- Shared trigger function: stamps updated_at on every UPDATE.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username    text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_]{3,32}$'),
    email       text NOT NULL UNIQUE,
    role        user_role NOT NULL DEFAULT 'member',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER users_set_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE users IS 'Application accounts; one row per login.';
-- down
DROP TRIGGER users_set_updated_at ON users;
DROP TABLE users;
DROP FUNCTION set_updated_at();
DROP TYPE user_role;

-- message: Add users.display_name and backfill it from profiles/username
-- parents: 20240311_0900_points_ledger
-- up
ALTER TABLE users ADD COLUMN display_name text;

-- Backfill: prefer the profile's full name, fall back to the username.
-- The trigger is paused so derived data does not bump users.updated_at.
ALTER TABLE users DISABLE TRIGGER users_set_updated_at;

UPDATE users u
SET display_name = coalesce(nullif(btrim(p.full_name), ''), u.username)
FROM profiles p
WHERE p.user_id = u.id;

UPDATE users
SET display_name = username
WHERE display_name IS NULL;

ALTER TABLE users ENABLE TRIGGER users_set_updated_at;

-- strata:allow adding-not-nullable-field users is already locked ACCESS EXCLUSIVE by the ADD COLUMN at the top of this revision, until it commits: the check scan adds time, not a new lock
ALTER TABLE users ALTER COLUMN display_name SET NOT NULL;
-- down
-- The column is derived data, so dropping it fully undoes the backfill.
ALTER TABLE users DROP COLUMN display_name;

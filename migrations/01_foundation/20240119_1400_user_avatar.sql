-- message: Add user avatar
-- parents: 20240112_1030_profiles
-- up
ALTER TABLE users ADD COLUMN avatar_url text;
COMMENT ON COLUMN users.avatar_url IS 'Absolute https URL; NULL means use the default avatar.';
-- down
COMMENT ON COLUMN users.avatar_url IS NULL;
ALTER TABLE users DROP COLUMN avatar_url;

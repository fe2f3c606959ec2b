/**
 * An Alembic project laid out as the team's guide has it: `alembic.ini`,
 * `alembic/env.py` (offline mode from the configured url or `-x url=`),
 * `alembic/versions/YYYYMMDD_HHMM_slug.py`. Eight revisions: a root, two
 * branches (two heads) joined by a merge (a tuple `down_revision`), a third
 * branch that a `depends_on` names (`alembic heads` lists it as an
 * "effective head"), a branch label, a revision that reads data through
 * `op.get_bind()` and one after it that builds an index in an
 * `autocommit_block()`, and a `downgrade()` that raises NotImplementedError.
 */
export const ALEMBIC_INI = `[alembic]
script_location = %(here)s/alembic
file_template = %%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(slug)s
prepend_sys_path = .
sqlalchemy.url = postgresql://postgres@127.0.0.1:5432/postgres

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console
qualname =

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = WARN
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
`;

const ENV_PY = `from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = None


def database_url():
    return context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )


def run_migrations_offline():
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    section = config.get_section(config.config_ini_section)
    section["sqlalchemy.url"] = database_url()
    connectable = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
`;

function revision(
  message: string,
  id: string,
  down: string,
  date: string,
  body: string,
  extra = "",
): string {
  return `"""${message}

Revision ID: ${id}
Revises: ${down.replace(/[()"' ]/g, "").replace(/,$/, "").replace(/^None$/, "")}
Create Date: ${date}

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "${id}"
down_revision = ${down}
branch_labels = ${/branch_labels = (.*)/.exec(extra)?.[1] ?? "None"}
depends_on = ${/depends_on = (.*)/.exec(extra)?.[1] ?? "None"}

${body}`;
}

/** The project's files, relative to its folder. */
export const ALEMBIC_FILES: Record<string, string> = {
  "alembic.ini": ALEMBIC_INI,
  "alembic/env.py": ENV_PY,
  "alembic/script.py.mako": "# the template alembic revision uses\n",
  "alembic/versions/20240101_0900_create_users.py": revision(
    "create users",
    "1a2b3c4d5e6f",
    "None",
    "2024-01-01 09:00:12.345678",
    `def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
    )
    op.create_index("users_email", "users", ["email"], unique=True)
    op.add_column("users", sa.Column("name", sa.Text))
    op.execute("INSERT INTO users (email, name) VALUES ('admin@example.com', 'Admin')")


def downgrade():
    op.drop_index("users_email", table_name="users")
    op.drop_table("users")
`,
  ),
  "alembic/versions/20240102_1000_add_posts.py": revision(
    "add posts",
    "2b3c4d5e6f70",
    '"1a2b3c4d5e6f"',
    "2024-01-02 10:00:00.000000",
    `def upgrade():
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("body", sa.Text),
    )


def downgrade():
    op.drop_table("posts")
`,
    "branch_labels = ('content',)",
  ),
  "alembic/versions/20240102_1100_add_tags.py": revision(
    "add tags",
    "3c4d5e6f7081",
    '"1a2b3c4d5e6f"',
    "2024-01-02 11:00:00.000000",
    `def upgrade():
    op.create_table("tags", sa.Column("name", sa.Text, primary_key=True))
    op.execute("INSERT INTO tags (name) VALUES ('news'), ('notes')")


def downgrade():
    op.drop_table("tags")
`,
  ),
  "alembic/versions/20240103_0800_merge_posts_and_tags.py": revision(
    "merge posts and tags",
    "4d5e6f708192",
    '("2b3c4d5e6f70", "3c4d5e6f7081")',
    "2024-01-03 08:00:00.000000",
    `def upgrade():
    pass


def downgrade():
    pass
`,
  ),
  "alembic/versions/20240104_0900_post_tags.py": revision(
    "post tags",
    "5e6f708192a3",
    '"4d5e6f708192"',
    "2024-01-04 09:00:00.000000",
    `def upgrade():
    op.create_table(
        "post_tags",
        sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id"), primary_key=True),
        sa.Column("tag", sa.Text, sa.ForeignKey("tags.name"), primary_key=True),
    )
    op.alter_column("posts", "body", nullable=False, server_default="")


def downgrade():
    op.alter_column("posts", "body", nullable=True, server_default=None)
    op.drop_table("post_tags")
`,
  ),
  "alembic/versions/20240105_0900_backfill_names.py": revision(
    "backfill names",
    "6f708192a3b4",
    '"5e6f708192a3"',
    "2024-01-05 09:00:00.000000",
    `def upgrade():
    bind = op.get_bind()
    for row in bind.execute(sa.text("SELECT id, email FROM users WHERE name IS NULL")):
        op.execute(
            sa.text("UPDATE users SET name = :name WHERE id = :id").bindparams(
                name=row.email.split("@")[0], id=row.id
            )
        )


def downgrade():
    pass
`,
  ),
  "alembic/versions/20240106_0900_user_bio.py": revision(
    "user bio",
    "708192a3b4c5",
    '"6f708192a3b4"',
    "2024-01-06 09:00:00.000000",
    `def upgrade():
    op.add_column("users", sa.Column("bio", sa.Text, nullable=True))
    with op.get_context().autocommit_block():
        op.create_index("posts_user", "posts", ["user_id"], postgresql_concurrently=True)


def downgrade():
    with op.get_context().autocommit_block():
        op.drop_index("posts_user", table_name="posts", postgresql_concurrently=True)
    op.drop_column("users", "bio")
`,
    "depends_on = '8192a3b4c5d6'",
  ),
  // A second head for Alembic ("effective head"): only user_bio's depends_on names it.
  "alembic/versions/20240103_1200_audit_log.py": revision(
    "audit log",
    "8192a3b4c5d6",
    '"1a2b3c4d5e6f"',
    "2024-01-03 12:00:00.000000",
    `def upgrade():
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()")),
        sa.Column("what", sa.Text),
    )


def downgrade():
    raise NotImplementedError("the audit log is never dropped")
`,
  ),
};

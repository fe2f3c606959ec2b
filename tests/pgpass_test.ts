import assert from "node:assert/strict";
import { matchPgpass, pgpassPassword } from "../lib/db/pgpass.ts";
import { redact } from "../lib/redact.ts";

const target = { host: "db.example", port: "5432", database: "app", user: "deploy" };

Deno.test("pgpass: first matching line wins, * matches anything", () => {
  const text = [
    "# comment",
    "other:5432:app:deploy:nope",
    "db.example:*:app:deploy:first",
    "*:*:*:*:second",
  ].join("\n");
  assert.equal(matchPgpass(text, target), "first");
  assert.equal(matchPgpass(text, { ...target, host: "x" }), "second");
  assert.equal(matchPgpass("db.example:5432:app:other:pw", target), undefined);
});

Deno.test("pgpass: escaped colons and backslashes, colons in the password", () => {
  assert.equal(matchPgpass("db.example:5432:app:deploy:p\\:w\\\\x", target), "p:w\\x");
  assert.equal(matchPgpass("db.example:5432:app:deploy:a:b", target), "a:b");
  assert.equal(matchPgpass("db\\:x:5432:app:deploy:pw", { ...target, host: "db:x" }), "pw");
  assert.equal(matchPgpass("db.example:5432:app:deploy:crlf\r\n", target), "crlf");
});

Deno.test("pgpass: read from PGPASSFILE only when private, never over a URL password or PGPASSWORD", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "127.0.0.1:5432:app:deploy:s3cret-pgpass\n");
    await Deno.chmod(file, 0o600);
    const url = "postgres://deploy@127.0.0.1:5432/app";
    assert.equal(pgpassPassword(url, null, { PGPASSFILE: file }), "s3cret-pgpass");
    assert.equal(redact("x s3cret-pgpass y"), "x *** y", "registered as a secret");
    assert.equal(pgpassPassword(url, null, { PGPASSFILE: file, PGPASSWORD: "env" }), undefined);
    assert.equal(
      pgpassPassword("postgres://deploy:given@127.0.0.1:5432/app", null, { PGPASSFILE: file }),
      undefined,
    );
    await Deno.chmod(file, 0o644);
    assert.equal(pgpassPassword(url, null, { PGPASSFILE: file }), undefined, "group-readable");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("pgpass: a socket connection matches localhost; the database defaults to the user", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "localhost:5433:deploy:deploy:sock\n");
    await Deno.chmod(file, 0o600);
    const url = "postgres://deploy@localhost:5433";
    assert.equal(
      pgpassPassword(url, "/run/postgresql/.s.PGSQL.5433", { PGPASSFILE: file }),
      "sock",
    );
  } finally {
    await Deno.remove(file);
  }
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { maskPasswordLiterals, redact, redactUrl, registerSecret } from "../lib/redact.ts";
import { dump, scratchDir, strata } from "./helpers.ts";

function assertHidden(text: string, secret: string): void {
  assert.ok(!text.includes(secret), `"${secret}" leaks in: ${text}`);
}

// ---------------------------------------------------------------- redactUrl

Deno.test("redactUrl masks the password of postgres URLs", () => {
  assert.equal(
    redactUrl("postgres://app:s3cret@db.example.com:5432/appdb"),
    "postgres://app:***@db.example.com:5432/appdb",
  );
  assert.equal(
    redactUrl("postgresql://app:s3cret@db/appdb?sslmode=require"),
    "postgresql://app:***@db/appdb?sslmode=require",
  );
  assert.equal(redactUrl("postgres://:s3cret@db/appdb"), "postgres://:***@db/appdb");
});

Deno.test("redactUrl leaves URLs without a password alone", () => {
  for (
    const url of [
      "postgres://app@db.example.com:5432/appdb",
      "postgres://db.example.com/appdb",
      "pglite:.strata/demo",
      "pglite:memory",
      "postgres://[::1]:5432/appdb",
    ]
  ) {
    assert.equal(redactUrl(url), url);
  }
});

Deno.test("redactUrl masks percent-encoded and punctuation-heavy passwords", () => {
  assert.equal(
    redactUrl("postgres://app:p%40ss%3Aw%2Frd@db/appdb"),
    "postgres://app:***@db/appdb",
  );
  assert.equal(redactUrl("postgres://app:pa:ss/w#rd?x@db/appdb"), "postgres://app:***@db/appdb");
});

Deno.test("redactUrl masks URLs inside longer text, every one of them", () => {
  const text = "could not connect to postgres://a:one1@h1/db, then POSTGRESQL://b:two2@h2/db.";
  const out = redactUrl(text);
  assertHidden(out, "one1");
  assertHidden(out, "two2");
  assert.equal(out, "could not connect to postgres://a:***@h1/db, then POSTGRESQL://b:***@h2/db.");
});

Deno.test("redactUrl masks malformed URLs: no host, no database, trailing junk", () => {
  assert.equal(redactUrl("postgres://app:s3cret@"), "postgres://app:***@");
  assert.equal(redactUrl("postgres://app:s3cret@:5432"), "postgres://app:***@:5432");
  assert.equal(
    redactUrl("postgres://app:s3cret@db:notaport/x"),
    "postgres://app:***@db:notaport/x",
  );
});

Deno.test("redactUrl masks the whole password when it holds an unencoded @", () => {
  // A URL parser takes the last @ before the host as the end of the password.
  const out = redactUrl("postgres://app:p@ss@db.example.com/appdb");
  assertHidden(out, "ss@db");
  assert.equal(out, "postgres://app:***@db.example.com/appdb");
});

Deno.test("redactUrl masks a password given as a URL parameter", () => {
  const out = redactUrl("postgres://app@db/appdb?sslmode=require&password=Param-Secret-1");
  assertHidden(out, "Param-Secret-1");
  assert.ok(out.includes("sslmode=require"), out);
});

// ---------------------------------------------------------------- maskPasswordLiterals

Deno.test("maskPasswordLiterals masks quoted PASSWORD literals", () => {
  assert.equal(
    maskPasswordLiterals("CREATE ROLE app LOGIN PASSWORD 'hunter2';"),
    "CREATE ROLE app LOGIN PASSWORD '***';",
  );
  assert.equal(
    maskPasswordLiterals("alter role app with encrypted password  'it''s secret' valid until 'x'"),
    "alter role app with encrypted password  '***' valid until 'x'",
  );
  assert.equal(
    maskPasswordLiterals("ALTER ROLE app PASSWORD\n  'multi\nline';"),
    "ALTER ROLE app PASSWORD\n  '***';",
  );
});

Deno.test("maskPasswordLiterals masks E'' literals", () => {
  assert.equal(
    maskPasswordLiterals("ALTER ROLE a PASSWORD E'abc';"),
    "ALTER ROLE a PASSWORD '***';",
  );
  assert.equal(
    maskPasswordLiterals("ALTER ROLE a PASSWORD e'a''b';"),
    "ALTER ROLE a PASSWORD '***';",
  );
});

Deno.test("maskPasswordLiterals masks E'' literals with backslash escapes", () => {
  const sql = "ALTER ROLE a PASSWORD E'se\\'cret\\\\';";
  const out = maskPasswordLiterals(sql);
  assertHidden(out, "cret");
  assert.equal(out, "ALTER ROLE a PASSWORD '***';");
});

Deno.test("maskPasswordLiterals masks dollar-quoted literals", () => {
  assert.equal(
    maskPasswordLiterals("CREATE ROLE a PASSWORD $$top'secret$$;"),
    "CREATE ROLE a PASSWORD '***';",
  );
  assert.equal(
    maskPasswordLiterals("CREATE ROLE a PASSWORD $pw$has $$ inside$pw$ LOGIN;"),
    "CREATE ROLE a PASSWORD '***' LOGIN;",
  );
});

Deno.test("maskPasswordLiterals masks every literal and leaves other SQL alone", () => {
  const sql = "CREATE ROLE a PASSWORD 'one';\nCREATE ROLE b PASSWORD 'two';\nSELECT 'password';";
  assert.equal(
    maskPasswordLiterals(sql),
    "CREATE ROLE a PASSWORD '***';\nCREATE ROLE b PASSWORD '***';\nSELECT 'password';",
  );
  assert.equal(maskPasswordLiterals("ALTER ROLE a PASSWORD NULL;"), "ALTER ROLE a PASSWORD NULL;");
  assert.equal(
    maskPasswordLiterals("select password_hash from users"),
    "select password_hash from users",
  );
});

// ---------------------------------------------------------------- registerSecret / redact

Deno.test("redact masks URL passwords and PASSWORD literals", () => {
  const out = redact(
    "error at postgres://app:Url-Pw-8Hd@db/x while running CREATE ROLE r PASSWORD 'Lit-Pw-4Kc'",
  );
  assertHidden(out, "Url-Pw-8Hd");
  assertHidden(out, "Lit-Pw-4Kc");
});

Deno.test("redact masks password=value parameters", () => {
  const out = redact("host=db user=app password=Kv-Pw-2Mn dbname=x");
  assertHidden(out, "Kv-Pw-2Mn");
  assert.ok(out.includes("host=db user=app"), out);
});

Deno.test("a registered secret is masked wherever it appears", () => {
  registerSecret("Reg-Secret-5Tq");
  const out = redact('FATAL: password authentication failed ("Reg-Secret-5Tq") Reg-Secret-5Tq');
  assertHidden(out, "Reg-Secret-5Tq");
  assert.equal(out, 'FATAL: password authentication failed ("***") ***');
});

Deno.test("a registered secret is masked raw and percent-encoded", () => {
  const secret = "p@ss:w/rd%ü";
  registerSecret(secret);
  const encoded = encodeURIComponent(secret);
  assert.equal(encoded, "p%40ss%3Aw%2Frd%25%C3%BC");
  const out = redact(`raw ${secret} and encoded ${encoded} end`);
  assertHidden(out, secret);
  assertHidden(out, encoded);
  assert.equal(out, "raw *** and encoded *** end");
});

Deno.test("a secret registered percent-encoded (from a URL) is masked decoded too", () => {
  registerSecret("d%40y%2Fz%3Aq-Enc9");
  const out = redact("the server said: d@y/z:q-Enc9 is wrong; URL had d%40y%2Fz%3Aq-Enc9");
  assertHidden(out, "d@y/z:q-Enc9");
  assertHidden(out, "d%40y%2Fz%3Aq-Enc9");
});

Deno.test("the URL from a registered percent-encoded password is fully masked", () => {
  const secret = "Ab#1 :/?é";
  registerSecret(secret);
  const url = `postgres://app:${encodeURIComponent(secret)}@db/appdb`;
  const out = redact(`connecting to ${url} with ${secret}`);
  assertHidden(out, encodeURIComponent(secret));
  assertHidden(out, secret);
});

Deno.test("registerSecret ignores empty and undefined values", () => {
  registerSecret("");
  registerSecret(undefined);
  assert.equal(redact("nothing secret here"), "nothing secret here");
});

Deno.test("a secret that extends another registered secret is masked whole", () => {
  registerSecret("Shared-Pw");
  registerSecret("Shared-Pw-Longer-Tail");
  const out = redact("passwords: Shared-Pw-Longer-Tail");
  assertHidden(out, "Longer-Tail");
  assert.equal(out, "passwords: ***");
});

Deno.test("redact leaves text without secrets unchanged", () => {
  const text = "Applied 20240101_0900_add_users in 12ms (postgres://app@db/appdb)";
  assert.equal(redact(text), text);
});

// ---------------------------------------------------------------- any user:password@ shape

Deno.test("redactUrl masks user:password@ in malformed URLs of any scheme or shape", () => {
  const cases: Array<[string, string]> = [
    ["postgres:/u:pw-1@h/db", "postgres:/u:***@h/db"],
    ["postgres:u:pw-1@h/db", "postgres:u:***@h/db"],
    ["postgresql//u:pw-1@h/db", "postgresql//u:***@h/db"],
    ["postgres:pw-1@h/db", "postgres:***@h/db"],
    ["u:pw-1@h:5432/db", "u:***@h:5432/db"],
    ["u:pw:1@h", "u:***@h"],
    ["mysql://u:pw-1@h/db", "mysql://u:***@h/db"],
    ["pglite:u:pw-1@h", "pglite:***@h"],
    ["(postgres:u:p@w-1@[::1]:5432)", "(postgres:u:***@[::1]:5432)"],
    ['url="postgres:u:pw-1@h/db"', 'url="postgres:u:***@h/db"'],
  ];
  for (const [text, masked] of cases) {
    assert.equal(redactUrl(text), masked);
    assert.equal(
      redact(`Cannot connect to ${text}: refused`),
      `Cannot connect to ${masked}: refused`,
    );
  }
});

Deno.test("redactUrl leaves user@host without a password and casts before @> alone", () => {
  for (
    const text of [
      "postgres://u@h/db",
      "postgres:/u@h/db",
      "admin@example.com",
      "data::jsonb@>'{}'",
    ]
  ) {
    assert.equal(redactUrl(text), text);
  }
});

Deno.test("CLI: a malformed URL's password is masked in text and --json, from every source", async () => {
  const dir = await scratchDir();
  try {
    await Deno.mkdir(join(dir.path, "migrations"));
    const secret = "Pw5ecret-Mal";
    for (
      const url of [
        `postgres:/u:${secret}@h/db`,
        `postgres:u:${secret}@h/db`,
        `postgresql//u:${secret}@h/db`,
      ]
    ) {
      const sources: Array<{ args: string[]; env?: Record<string, string> }> = [
        { args: ["--database", url] },
        { args: [], env: { DATABASE_URL: url } },
      ];
      for (const source of sources) {
        for (const json of [[], ["--json"]]) {
          for (const command of ["status", "apply", "init"]) {
            const r = await strata([command, ...source.args, ...json], {
              cwd: dir.path,
              env: source.env,
            });
            assertHidden(dump(r), secret);
          }
        }
      }
      await Deno.remove(join(dir.path, "strata.json")).catch(() => {});
    }
  } finally {
    await dir.remove();
  }
});

/**
 * lint: every rule fires on a risky statement and stays quiet on the safer
 * one; file lines, allow comments, syntax errors, memory across revisions;
 * then the real `strata lint` command in scratch folders, with no database.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { type Finding, lintRevision } from "../lib/lint/lint.ts";
import { RULES } from "../lib/lint/rules.ts";
import { githubAnnotations } from "../lib/lint/report.ts";
import { type Memory, newMemory } from "../lib/lint/state.ts";
import { parseMigration } from "../lib/migration_file.ts";
import {
  dump,
  EXAMPLES,
  expectExit,
  parseJson,
  scratchDir,
  strata,
  writeMigration,
} from "./helpers.ts";

// ---------------------------------------------------------------------------
// Helpers

interface Source {
  up: string;
  /** Default: a harmless down, so missing-down stays out of the way. */
  down?: string | null;
  mode?: "each" | "none";
}

function fileText({ up, down = "SELECT 1;", mode = "each" }: Source): string {
  return `-- message: test\n-- transaction: ${mode}\n-- up\n${up}\n${
    down === null ? "" : `-- down\n${down}\n`
  }`;
}

async function lintText(text: string, memory?: Memory, id = "20240101_0000_test") {
  const file = parseMigration(text, `${id}.sql`, id, null);
  return await lintRevision(file, { memory, text: () => text });
}

async function lintSource(source: Source, memory?: Memory): Promise<Finding[]> {
  return await lintText(fileText(source), memory);
}

const ruleIds = (findings: Finding[]) => findings.map((f) => f.rule);
const where = (findings: Finding[]) => findings.map((f) => `${f.line} ${f.rule}`);

// ---------------------------------------------------------------------------
// Every rule: statements it fires on, statements it leaves alone

interface Case {
  fires: Source[];
  quiet: Source[];
}

const each = (up: string, down?: string | null): Source => ({ up, down });
const none = (up: string, down?: string | null): Source => ({ up, down, mode: "none" });

const CASES: Record<string, Case> = {
  "cannot-run-in-transaction": {
    fires: [
      each("CREATE INDEX CONCURRENTLY i ON t (a);"),
      each("DROP INDEX CONCURRENTLY IF EXISTS i;"),
      each("REINDEX TABLE CONCURRENTLY t;"),
      each("REINDEX SCHEMA public;"),
      each("VACUUM t;"),
      each("CREATE DATABASE x;"),
      each("SELECT 1;", "CREATE INDEX CONCURRENTLY i ON t (a);"),
    ],
    quiet: [
      none("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);"),
      none("VACUUM t;"),
      each("ANALYZE t;"),
      each("REINDEX TABLE t;"),
    ],
  },
  "transaction-nesting": {
    fires: [each("BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;"), each("SAVEPOINT s;")],
    quiet: [none("BEGIN;\nCREATE TABLE IF NOT EXISTS a (id int);\nCOMMIT;")],
  },
  "prefer-robust-stmts": {
    fires: [
      none("CREATE INDEX CONCURRENTLY i ON t (a);"),
      none("DROP INDEX CONCURRENTLY i;"),
      none("CREATE TABLE a (id int);"),
      none("ALTER TABLE t ADD COLUMN c int;"),
      none("CREATE VIEW v AS SELECT 1;"),
      none("ALTER TYPE e ADD VALUE 'x';"),
      none("SELECT 1;", "DROP TABLE a;"),
      // Another object, or a DROP without IF EXISTS (itself flagged), does not count.
      none("DROP INDEX CONCURRENTLY IF EXISTS other;\nCREATE INDEX CONCURRENTLY i ON t (a);"),
      none("DROP VIEW IF EXISTS i;\nCREATE INDEX CONCURRENTLY i ON t (a);"),
      none("ALTER TABLE t DROP COLUMN IF EXISTS c;\nALTER TABLE u ADD COLUMN c int;"),
    ],
    quiet: [
      none("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);"),
      none("DROP INDEX CONCURRENTLY IF EXISTS i;"),
      none("CREATE TABLE IF NOT EXISTS a (id int);"),
      none("ALTER TABLE t ADD COLUMN IF NOT EXISTS c int;"),
      none("CREATE OR REPLACE VIEW v AS SELECT 1;"),
      none("ALTER TYPE e ADD VALUE IF NOT EXISTS 'x';"),
      each("CREATE TABLE a (id int);"),
      // DROP ... IF EXISTS of the same object first: the pair runs again after a failure.
      none("DROP INDEX CONCURRENTLY IF EXISTS i;\nCREATE INDEX CONCURRENTLY i ON t (a);"),
      none("DROP VIEW IF EXISTS s.v;\nCREATE VIEW s.v AS SELECT 1;"),
      none(
        "DROP TRIGGER IF EXISTS tr ON t;\nCREATE TRIGGER tr AFTER INSERT ON t " +
          "FOR EACH ROW EXECUTE FUNCTION f();",
      ),
      none(
        "DROP FUNCTION IF EXISTS f(int);\nCREATE FUNCTION f(a int) RETURNS int " +
          "LANGUAGE sql AS 'SELECT 1';",
      ),
      none("DROP TABLE IF EXISTS a, b;\nCREATE TABLE b (id int);\nCREATE TABLE a (id int);"),
      none("ALTER TABLE t DROP COLUMN IF EXISTS c;\nALTER TABLE t ADD COLUMN c int;"),
    ],
  },
  "require-concurrent-index-creation": {
    fires: [each("CREATE INDEX i ON t (a);"), each("CREATE UNIQUE INDEX ON s.t (a);")],
    quiet: [
      each("CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);"),
      none("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);"),
    ],
  },
  "require-concurrent-index-deletion": {
    fires: [each("DROP INDEX i;"), each("SELECT 1;", "DROP INDEX i;")],
    quiet: [
      none("DROP INDEX CONCURRENTLY IF EXISTS i;"),
      each("CREATE TABLE n (a int);\nCREATE INDEX i ON n (a);\nDROP INDEX i;"),
    ],
  },
  "constraint-builds-index": {
    fires: [
      each("ALTER TABLE t ADD CONSTRAINT u UNIQUE (a);"),
      each("ALTER TABLE t ADD PRIMARY KEY (id);"),
      each("ALTER TABLE t ADD COLUMN c bigint UNIQUE;"),
    ],
    quiet: [
      each("ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX i;"),
      each("CREATE TABLE n (id int);\nALTER TABLE n ADD PRIMARY KEY (id);"),
    ],
  },
  "adding-field-with-default": {
    fires: [
      each("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();"),
      each("ALTER TABLE t ADD COLUMN c float8 DEFAULT random() * 10;"),
      each("ALTER TABLE t ADD COLUMN c int DEFAULT app.next_code();"),
      each("ALTER TABLE t ADD COLUMN c bigserial;"),
      each("ALTER TABLE t ADD COLUMN c bigint GENERATED ALWAYS AS IDENTITY;"),
      each("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS (a * 2) STORED;"),
    ],
    quiet: [
      each("ALTER TABLE t ADD COLUMN c timestamptz NOT NULL DEFAULT now();"),
      each("ALTER TABLE t ADD COLUMN c timestamptz DEFAULT CURRENT_TIMESTAMP;"),
      each("ALTER TABLE t ADD COLUMN c text NOT NULL DEFAULT 'x';"),
      each("ALTER TABLE t ALTER COLUMN c SET DEFAULT gen_random_uuid();"),
      each("CREATE TABLE n (id int);\nALTER TABLE n ADD COLUMN c uuid DEFAULT gen_random_uuid();"),
    ],
  },
  "adding-required-field": {
    fires: [each("ALTER TABLE t ADD COLUMN c int NOT NULL;")],
    quiet: [
      each("ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0;"),
      each("ALTER TABLE t ADD COLUMN c int;"),
      each("CREATE TABLE n (id int);\nALTER TABLE n ADD COLUMN c int NOT NULL;"),
    ],
  },
  "changing-column-type": {
    fires: [each("ALTER TABLE t ALTER COLUMN c TYPE bigint;")],
    quiet: [
      each("CREATE TABLE n (c int);\nALTER TABLE n ALTER COLUMN c TYPE bigint;"),
      each("ALTER TABLE t ALTER COLUMN c SET STATISTICS 500;"),
    ],
  },
  "adding-not-nullable-field": {
    fires: [
      each("ALTER TABLE t ALTER COLUMN c SET NOT NULL;"),
      each(
        "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID;\n" +
          "ALTER TABLE t ALTER COLUMN c SET NOT NULL;",
      ),
      each(
        "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (d IS NOT NULL);\n" +
          "ALTER TABLE t ALTER COLUMN c SET NOT NULL;",
      ),
    ],
    quiet: [
      none(
        "ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID;\n" +
          "ALTER TABLE t VALIDATE CONSTRAINT c_nn;\nALTER TABLE t ALTER COLUMN c SET NOT NULL;",
      ),
      each("CREATE TABLE n (c int);\nALTER TABLE n ALTER COLUMN c SET NOT NULL;"),
      each("ALTER TABLE t ALTER COLUMN c DROP NOT NULL;"),
    ],
  },
  "constraint-missing-not-valid": {
    fires: [
      each("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES users (id);"),
      each("ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0);"),
      each("ALTER TABLE t ADD COLUMN u bigint DEFAULT 1 REFERENCES users (id);"),
      each("ALTER TABLE t ADD COLUMN a int CHECK (a > 0);"),
      each("ALTER DOMAIN d ADD CONSTRAINT k CHECK (VALUE > 0);"),
      each(
        "ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0) NOT VALID;\n" +
          "ALTER TABLE t VALIDATE CONSTRAINT k;",
      ),
    ],
    quiet: [
      each("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES users (id) NOT VALID;"),
      each("ALTER TABLE t ADD COLUMN u bigint REFERENCES users (id);"),
      each("ALTER DOMAIN d ADD CONSTRAINT k CHECK (VALUE > 0) NOT VALID;"),
      each("ALTER TABLE t VALIDATE CONSTRAINT k;"),
      none(
        "ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0) NOT VALID;\n" +
          "ALTER TABLE t VALIDATE CONSTRAINT k;",
      ),
      each("CREATE TABLE n (u bigint);\nALTER TABLE n ADD CONSTRAINT k CHECK (u > 0);"),
    ],
  },
  "ban-drop-table": {
    fires: [each("DROP TABLE t;"), each("DROP TABLE IF EXISTS a.t, b CASCADE;")],
    quiet: [
      each("CREATE TABLE n (a int);\nDROP TABLE n;"),
      each("CREATE TABLE n (a int);", "DROP TABLE n;"),
    ],
  },
  "ban-drop-column": {
    fires: [each("ALTER TABLE t DROP COLUMN c;")],
    quiet: [each("ALTER TABLE t ADD COLUMN c int;", "ALTER TABLE t DROP COLUMN c;")],
  },
  "ban-drop-database": {
    fires: [none("DROP DATABASE IF EXISTS x;")],
    quiet: [none("CREATE DATABASE x;", "DROP DATABASE IF EXISTS x;")],
  },
  "ban-truncate": {
    fires: [each("TRUNCATE t;"), each("TRUNCATE t CASCADE;")],
    quiet: [each("CREATE TABLE n (a int);\nTRUNCATE n;"), each("SELECT 1;", "TRUNCATE t;")],
  },
  "renaming-table": {
    fires: [each("ALTER TABLE t RENAME TO t2;")],
    quiet: [
      each("CREATE TABLE n (a int);\nALTER TABLE n RENAME TO n2;"),
      each("ALTER INDEX i RENAME TO j;"),
      each("SELECT 1;", "ALTER TABLE t2 RENAME TO t;"),
    ],
  },
  "renaming-column": {
    fires: [each("ALTER TABLE t RENAME COLUMN a TO b;")],
    quiet: [
      each("ALTER TABLE t RENAME CONSTRAINT a TO b;"),
      each("CREATE TABLE n (a int);\nALTER TABLE n RENAME COLUMN a TO b;"),
    ],
  },
  "delete-without-where": {
    fires: [each("DELETE FROM t;")],
    quiet: [each("DELETE FROM t WHERE id = 1;"), each("SELECT 1;", "DELETE FROM t;")],
  },
  "update-without-where": {
    fires: [each("UPDATE t SET a = 1;")],
    quiet: [
      each("UPDATE t SET a = 1 WHERE a IS NULL;"),
      each("CREATE TABLE n (a int);\nUPDATE n SET a = 1;"),
    ],
  },
  "prefer-timestamptz": {
    fires: [
      each("CREATE TABLE n (at timestamp);"),
      each("ALTER TABLE t ADD COLUMN at timestamp(3) without time zone;"),
      each("ALTER TABLE t ALTER COLUMN at TYPE timestamp;"),
    ],
    quiet: [
      each("CREATE TABLE n (a timestamptz, b timestamp with time zone, c time);"),
      each("SELECT 1;", "ALTER TABLE t ADD COLUMN at timestamp;"),
    ],
  },
  "ban-char-field": {
    fires: [each("CREATE TABLE n (code char(3));"), each("CREATE TABLE n (code character);")],
    quiet: [each(`CREATE TABLE n (code text, kind "char", short varchar(3));`)],
  },
  "syntax-error": {
    fires: [each("CREATE TABLE (;"), each("SELECT 1;", "DROP TABEL t;")],
    quiet: [each("CREATE TABLE n (a int);")],
  },
  "missing-down": {
    fires: [each("CREATE TABLE n (a int);", null), each("CREATE TABLE n (a int);", "-- no\n")],
    quiet: [
      each("CREATE TABLE n (a int);"),
      each("-- nothing to do", null),
      each("", ""),
    ],
  },
  "bad-allow": {
    fires: [
      each("-- strata:allow ban-drop-table\nDROP TABLE t;"),
      each("-- strata:allow no-such-rule because\nDROP TABLE t;"),
      each("-- strata:allow syntax-error because\nDROP TABLE t;"),
      each("-- strata:allow\nDROP TABLE t;"),
    ],
    quiet: [each("-- strata:allow ban-drop-table moved to the archive database\nDROP TABLE t;")],
  },
};

Deno.test("every rule has a case that fires and one that does not", () => {
  for (const rule of RULES) {
    assert.ok(CASES[rule.id]?.fires.length, `no firing case for ${rule.id}`);
    assert.ok(CASES[rule.id]?.quiet.length, `no quiet case for ${rule.id}`);
  }
  assert.deepEqual(Object.keys(CASES).sort(), RULES.map((rule) => rule.id).sort());
});

for (const [rule, { fires, quiet }] of Object.entries(CASES)) {
  Deno.test(`rule ${rule}`, async () => {
    for (const source of fires) {
      const findings = await lintSource(source);
      assert.ok(ruleIds(findings).includes(rule), `${rule} should fire on:\n${fileText(source)}`);
    }
    for (const source of quiet) {
      const findings = await lintSource(source);
      assert.ok(
        !ruleIds(findings).includes(rule),
        `${rule} should not fire on:\n${fileText(source)}\n${where(findings).join("\n")}`,
      );
    }
  });
}

Deno.test("a finding carries severity, why, instead, revision and section", async () => {
  const [finding] = await lintSource(each("DROP TABLE accounts;"));
  assert.equal(finding.rule, "ban-drop-table");
  assert.equal(finding.severity, "error");
  assert.equal(finding.revision, "20240101_0000_test");
  assert.equal(finding.file, "20240101_0000_test.sql");
  assert.equal(finding.section, "up");
  assert.match(finding.message, /accounts/);
  assert.ok(finding.why.length > 20 && finding.instead.length > 20);
  const [warning] = await lintSource(each("CREATE INDEX i ON t (a);"));
  assert.equal(warning.severity, "warning");
});

// ---------------------------------------------------------------------------
// Lines

Deno.test("findings point at the file line: header before -- up, later statements, down", async () => {
  const text = [
    "-- message: lines", // 1
    "-- parents:", // 2
    "-- a header comment", // 3
    "-- up", // 4
    "COMMENT ON TABLE t IS '积分 ledger; not a statement end';", // 5
    "", // 6
    "/* a block", // 7
    "   comment */", // 8
    "DROP TABLE t;", // 9
    "ALTER TABLE u", // 10
    "  ADD COLUMN a int,", // 11
    "  ADD COLUMN c int NOT NULL;", // 12
    "CREATE TABLE n (", // 13
    "  id int,", // 14
    "  at timestamp", // 15
    ");", // 16
    "-- down", // 17
    "DROP TABLE n;", // 18
    "", // 19
    "CREATE INDEX i ON u (c);", // 20
  ].join("\n");
  assert.deepEqual(where(await lintText(text)), [
    "9 ban-drop-table",
    "12 adding-required-field",
    "15 prefer-timestamptz",
    "20 require-concurrent-index-creation",
  ]);
});

Deno.test("a syntax error is an error finding at its line; the other section is still linted", async () => {
  const text = [
    "-- up", // 1
    "CREATE TABLE a (id int);", // 2
    "", // 3
    "CREATE TABLE b (", // 4
    "  id int", // 5
    "  name text);", // 6
    "-- down", // 7
    "DROP INDEX i;", // 8
  ].join("\n");
  const findings = await lintText(text);
  assert.deepEqual(where(findings), ["6 syntax-error", "8 require-concurrent-index-deletion"]);
  assert.equal(findings[0].severity, "error");
  assert.match(findings[0].message, /syntax error/i);
});

// ---------------------------------------------------------------------------
// strata:allow

Deno.test("an allow comment silences only the named rule on the next statement", async () => {
  const text = [
    "-- transaction: none", // 1
    "-- up", // 2
    "-- strata:allow ban-drop-table replaced by archive.old_a in 20231201", // 3
    "DROP TABLE old_a;", // 4
    "DROP TABLE IF EXISTS old_b;", // 5
    "-- strata:allow ban-drop-column wrong rule for this statement", // 6
    "DROP TABLE IF EXISTS old_c;", // 7
    "-- strata:allow ban-drop-table a blank line separates it", // 8
    "", // 9
    "DROP TABLE IF EXISTS old_d;", // 10
    "-- down", // 11
    "SELECT 1;", // 12
  ].join("\n");
  assert.deepEqual(where(await lintText(text)), [
    "4 prefer-robust-stmts", // the same statement's other rule still stands
    "5 ban-drop-table",
    "7 ban-drop-table",
    "10 ban-drop-table",
  ]);
});

Deno.test("allow comments stack, take several rules, and work above a finding's own line", async () => {
  const text = [
    "-- up", // 1
    "-- strata:allow ban-drop-table the data lives in the warehouse now", // 2
    "-- (reviewed by the data team)", // 3
    "-- strata:allow ban-truncate,delete-without-where emptied on purpose", // 4
    "DROP TABLE a;", // 5
    "TRUNCATE b;", // 6
    "CREATE TABLE n (", // 7
    "  -- strata:allow prefer-timestamptz mirrors a legacy feed", // 8
    "  at timestamp,", // 9
    "  bt timestamp", // 10
    ");", // 11
    "-- down", // 12
    "SELECT 1;", // 13
  ].join("\n");
  assert.deepEqual(where(await lintText(text)), ["6 ban-truncate", "10 prefer-timestamptz"]);
});

Deno.test("a bad allow comment is reported and silences nothing", async () => {
  const findings = await lintSource(each("-- strata:allow ban-drop-table\nDROP TABLE t;"));
  assert.deepEqual(where(findings), ["4 bad-allow", "5 ban-drop-table"]);
  assert.match(findings[0].message, /reason/);
});

Deno.test("missing-down is silenced by an allow comment in the header or the empty down", async () => {
  const text = "-- message: drop legacy\n" +
    "-- strata:allow missing-down the legacy data cannot be restored\n" +
    "-- up\nCREATE TABLE n (a int);\n";
  assert.deepEqual(await lintText(text), []);
  const inDown = "-- up\nCREATE TABLE n (a int);\n-- down\n" +
    "-- strata:allow missing-down the legacy data cannot be restored\n";
  assert.deepEqual(await lintText(inDown), []);
  // In the up section it is a statement's allow, not the file's.
  const inUp = "-- up\n-- strata:allow missing-down no\nCREATE TABLE n (a int);\n";
  assert.deepEqual(where(await lintText(inUp)), ["1 missing-down"]);
  const open = await lintText("-- message: x\n-- up\nCREATE TABLE n (a int);\n");
  assert.deepEqual(where(open), ["2 missing-down"]);
  assert.equal(open[0].section, null);
});

// ---------------------------------------------------------------------------
// Memory across revisions

Deno.test("a CHECK validated in an earlier revision makes SET NOT NULL quiet", async () => {
  const memory = newMemory();
  const first = await lintSource(
    none(
      "ALTER TABLE t ADD CONSTRAINT t_c_nn CHECK (c IS NOT NULL AND d IS NOT NULL) NOT VALID;\n" +
        "ALTER TABLE t VALIDATE CONSTRAINT t_c_nn;",
      // The down drops it again: that must not make lint forget it for the next revision.
      "ALTER TABLE t DROP CONSTRAINT IF EXISTS t_c_nn;",
    ),
    memory,
  );
  assert.deepEqual(first, []);
  const setNotNull = each(
    "ALTER TABLE t ALTER COLUMN c SET NOT NULL, ALTER COLUMN d SET NOT NULL;",
    "ALTER TABLE t ALTER COLUMN c DROP NOT NULL, ALTER COLUMN d DROP NOT NULL;",
  );
  assert.deepEqual(await lintSource(setNotNull, memory), []);
  assert.deepEqual(ruleIds(await lintSource(setNotNull, newMemory())), [
    "adding-not-nullable-field",
    "adding-not-nullable-field",
  ]);
  // Only validated: added NOT VALID and never validated does not count.
  const unvalidated = newMemory();
  await lintSource(
    each("ALTER TABLE t ADD CONSTRAINT k CHECK (c IS NOT NULL) NOT VALID;"),
    unvalidated,
  );
  assert.deepEqual(
    ruleIds(await lintSource(each("ALTER TABLE t ALTER COLUMN c SET NOT NULL;"), unvalidated)),
    [
      "adding-not-nullable-field",
    ],
  );
});

// ---------------------------------------------------------------------------
// The command

async function withMigrations(
  files: Record<string, string>,
  fn: (cwd: string, dir: string) => Promise<void>,
): Promise<void> {
  const scratch = await scratchDir();
  try {
    const dir = join(scratch.path, "migrations");
    await Deno.mkdir(dir, { recursive: true });
    for (const [id, text] of Object.entries(files)) await writeMigration(dir, id, text);
    await fn(scratch.path, dir);
  } finally {
    await scratch.remove();
  }
}

const RISKY = {
  "20240101_0900_accounts": "-- message: accounts\n-- parents:\n-- up\n" +
    "CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\n-- down\nDROP TABLE accounts;\n",
  "20240102_0900_drop_email": "-- message: drop email\n-- parents: 20240101_0900_accounts\n" +
    "-- up\nCREATE INDEX accounts_id_idx ON accounts (id);\n" +
    "ALTER TABLE accounts DROP COLUMN email;\n" +
    "-- down\nALTER TABLE accounts ADD COLUMN email text;\nDROP INDEX accounts_id_idx;\n",
};

Deno.test("strata lint: an error finding exits 3, with file:line and why/instead, no database", async () => {
  await withMigrations(RISKY, async (cwd) => {
    const r = await strata(["lint"], { cwd });
    expectExit(r, 3, "strata lint");
    const lines = r.stdout.split("\n");
    const at = lines.findIndex((line) =>
      line === "migrations/20240102_0900_drop_email.sql:5: error ban-drop-column: " +
          'DROP COLUMN "email" of "accounts"'
    );
    assert.ok(at >= 0, dump(r));
    assert.match(lines[at + 1], /^ +why: /);
    assert.match(lines[at + 2], /^ +instead: /);
    assert.ok(r.stdout.includes("2 revisions linted: 1 error, 2 warnings"), dump(r));
  });
});

Deno.test("strata lint --json: one document with ok, findings and counts", async () => {
  await withMigrations(RISKY, async (cwd) => {
    const r = await strata(["lint", "--json"], { cwd });
    expectExit(r, 3, "strata lint --json");
    const doc = parseJson(r, "strata lint --json");
    assert.equal(doc.ok, false);
    assert.equal(doc.command, "lint");
    assert.equal(doc.revisions, 2);
    assert.deepEqual(doc.counts, { error: 1, warning: 2 });
    assert.deepEqual(
      doc.findings.map((f: Finding) => `${basename(f.file)}:${f.line} ${f.severity} ${f.rule}`),
      [
        "20240102_0900_drop_email.sql:4 warning require-concurrent-index-creation",
        "20240102_0900_drop_email.sql:5 error ban-drop-column",
        "20240102_0900_drop_email.sql:8 warning require-concurrent-index-deletion",
      ],
    );
    const [finding] = doc.findings;
    assert.deepEqual(Object.keys(finding).sort(), [
      "column",
      "file",
      "instead",
      "line",
      "message",
      "revision",
      "rule",
      "section",
      "severity",
      "why",
    ]);
  });
});

Deno.test("strata lint: warnings alone and allowed errors exit 0; REV selects revisions", async () => {
  const allowed = {
    ...RISKY,
    "20240102_0900_drop_email": RISKY["20240102_0900_drop_email"].replace(
      "ALTER TABLE accounts DROP",
      "-- strata:allow ban-drop-column email moved to contacts in 20231201\nALTER TABLE accounts DROP",
    ),
  };
  await withMigrations(allowed, async (cwd) => {
    const r = await strata(["lint", "--json"], { cwd });
    expectExit(r, 0, "strata lint --json");
    const doc = parseJson(r, "strata lint");
    assert.equal(doc.ok, true);
    assert.deepEqual(doc.counts, { error: 0, warning: 2 });
  });
  await withMigrations(RISKY, async (cwd) => {
    const first = parseJson(await strata(["lint", "20240101", "--json"], { cwd }), "lint REV");
    assert.deepEqual([first.ok, first.revisions, first.findings], [true, 1, []]);
    const unknown = await strata(["lint", "20991231", "--json"], { cwd });
    expectExit(unknown, 2, "strata lint with an unknown revision");
    assert.equal(parseJson(unknown, "lint unknown").error.code, "USAGE");
  });
});

Deno.test("strata lint --fail-on warning: warnings exit 3; lintFailOn in strata.json too", async () => {
  const warnings = {
    "20240101_0900_accounts": RISKY["20240101_0900_accounts"],
    "20240102_0900_index": "-- message: index\n-- parents: 20240101_0900_accounts\n" +
      "-- up\nCREATE INDEX accounts_id_idx ON accounts (id);\n-- down\nDROP INDEX accounts_id_idx;\n",
  };
  await withMigrations(warnings, async (cwd) => {
    const plain = await strata(["lint", "--json"], { cwd });
    expectExit(plain, 0, "strata lint: warnings alone");
    assert.equal(parseJson(plain, "lint").failOn, "error");

    const strict = await strata(["lint", "--fail-on", "warning"], { cwd });
    expectExit(strict, 3, "strata lint --fail-on warning");
    assert.ok(strict.stdout.includes("2 revisions linted: 0 errors, 2 warnings"), dump(strict));
    assert.match(strict.stdout, /Failing on warning and above \(--fail-on warning\)/);
    const doc = parseJson(
      await strata(["lint", "--fail-on", "warning", "--json"], { cwd }),
      "json",
    );
    assert.deepEqual([doc.ok, doc.failOn, doc.counts], [false, "warning", {
      error: 0,
      warning: 2,
    }]);

    await Deno.writeTextFile(join(cwd, "strata.json"), JSON.stringify({ lintFailOn: "warning" }));
    expectExit(await strata(["lint"], { cwd }), 3, "lintFailOn: warning in strata.json");
    expectExit(await strata(["lint", "--fail-on", "error"], { cwd }), 0, "the flag beats the file");
    const bad = await strata(["lint", "--fail-on", "loud", "--json"], { cwd });
    expectExit(bad, 2, "an unknown level");
    assert.equal(parseJson(bad, "bad level").error.code, "CONFIG");
  });
  // Nothing to find: exit 0 whatever the level.
  await withMigrations(
    { "20240101_0900_accounts": RISKY["20240101_0900_accounts"] },
    async (cwd) => {
      expectExit(await strata(["lint", "--fail-on", "warning"], { cwd }), 0, "no findings");
    },
  );
});

Deno.test("strata lint: a file that does not parse is a finding with its line, not a crash", async () => {
  const files = {
    "20240101_0900_broken":
      "-- message: broken\n-- up\nCREATE TABLE a (\n  id int\n  name text\n);\n" +
      "-- down\nDROP TABLE a;\n",
  };
  await withMigrations(files, async (cwd) => {
    const r = await strata(["lint", "--json"], { cwd });
    expectExit(r, 3, "strata lint on a syntax error");
    const [finding] = parseJson(r, "lint").findings;
    assert.deepEqual([finding.rule, finding.line, finding.severity], ["syntax-error", 5, "error"]);
  });
});

// The example migrations are what a newcomer copies: they lint clean, with no warning. Their
// indexes are built and dropped CONCURRENTLY in `transaction: none` revisions; the one SET NOT
// NULL carries an allow comment with its reason (users is locked by the ADD COLUMN already).
Deno.test("strata lint on the example migrations: clean, exit 0, in every format", async () => {
  const scratch = await scratchDir();
  try {
    const run = (...args: string[]) =>
      strata(["lint", "--dir", EXAMPLES, ...args], {
        cwd: scratch.path,
      });
    const r = await run("--json");
    expectExit(r, 0, "strata lint on the examples");
    const doc = parseJson(r, "strata lint on the examples");
    assert.equal(doc.revisions, 13);
    assert.deepEqual(doc.counts, { error: 0, warning: 0 });
    assert.deepEqual(
      doc.findings.map((f: Finding) => `${basename(f.file)}:${f.line} ${f.rule}`),
      [],
    );
    const text = await run();
    expectExit(text, 0, "strata lint on the examples, text");
    assert.equal(text.stdout, "13 revisions linted: 0 errors, 0 warnings\n");
    const github = await run("--format", "github");
    expectExit(github, 0, "--format github on the examples");
    assert.equal(github.stdout, "13 revisions linted: 0 errors, 0 warnings\n");
    const sarif = await run("--format", "sarif");
    expectExit(sarif, 0, "--format sarif on the examples");
    assert.deepEqual(JSON.parse(sarif.stdout).runs[0].results, []);
  } finally {
    await scratch.remove();
  }
});

// ---------------------------------------------------------------------------
// lint in CI: --format github (annotations) and --format sarif (code scanning)

const CI_FILES = {
  "20240101_0000_users":
    "-- message: users\n-- parents:\n-- up\nCREATE TABLE users (id int, code char(3));\n" +
    "-- down\nDROP TABLE users;\n",
  "20240102_0000_drop":
    "-- message: drop, with 50% off: a, b\n-- parents: 20240101_0000_users\n-- up\n" +
    "SELECT 1;\n  ALTER TABLE users DROP COLUMN code;\n-- down\nSELECT 1;\n",
};

Deno.test("lint --format github: one annotation per finding, error and warning levels, escaped", async () => {
  await withMigrations(CI_FILES, async (cwd) => {
    const r = await strata(["lint", "--format", "github"], { cwd });
    expectExit(r, 3, "an error-level finding fails");
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 3, dump(r));
    assert.match(
      lines[0],
      /^::warning file=migrations\/20240101_0000_users\.sql,line=4,col=29,title=strata lint ban-char-field::.*char\(n\).*%0Awhy: .*%0Ainstead: /,
    );
    // The DROP COLUMN clause sits after two spaces and "ALTER TABLE users ".
    assert.match(
      lines[1],
      /^::error file=migrations\/20240102_0000_drop\.sql,line=5,col=\d+,title=strata lint ban-drop-column::/,
    );
    assert.ok(!/[\r]/.test(r.stdout));
    assert.equal(lines[2], "2 revisions linted: 1 error, 1 warning");
    // Nothing but annotations and the summary: no human finding lines.
    assert.ok(!r.stdout.includes("    why:"), dump(r));
  });
});

Deno.test("lint --format sarif: a SARIF 2.1.0 log with rules, results and locations", async () => {
  await withMigrations(CI_FILES, async (cwd) => {
    const r = await strata(["lint", "--format", "sarif"], { cwd });
    expectExit(r, 3, "an error-level finding fails");
    const log = JSON.parse(r.stdout);
    assert.equal(log.version, "2.1.0");
    assert.match(log.$schema, /sarif-2\.1\.0/);
    const [run] = log.runs;
    assert.equal(run.tool.driver.name, "strata");
    const ruleIds = run.tool.driver.rules.map((rule: { id: string }) => rule.id);
    assert.deepEqual(ruleIds, RULES.map((rule) => rule.id));
    assert.equal(run.results.length, 2);
    const [warning, error] = run.results;
    assert.equal(warning.ruleId, "ban-char-field");
    assert.equal(warning.level, "warning");
    assert.equal(ruleIds[warning.ruleIndex], "ban-char-field");
    assert.deepEqual(warning.locations[0].physicalLocation, {
      artifactLocation: { uri: "migrations/20240101_0000_users.sql", uriBaseId: "SRCROOT" },
      region: { startLine: 4, startColumn: 29 }, // "code char(3)" on its line
    });
    assert.equal(error.ruleId, "ban-drop-column");
    assert.equal(error.level, "error");
    const region = error.locations[0].physicalLocation.region;
    assert.equal(region.startLine, 5);
    assert.ok(region.startColumn > 1, "the column of the clause on its line");
    assert.equal(
      run.tool.driver.rules[error.ruleIndex].defaultConfiguration.level,
      "error",
    );
  });
});

Deno.test("lint --format: json is --json; a bad value or a clash with --json is a usage error", async () => {
  await withMigrations(CI_FILES, async (cwd) => {
    const asJson = await strata(["lint", "--format", "json"], { cwd });
    expectExit(asJson, 3, "--format json");
    const doc = parseJson(asJson, "--format json");
    assert.equal(doc.counts.error, 1);
    assert.equal(doc.findings[1].column > 1, true);
    const bad = await strata(["lint", "--format", "xml"], { cwd });
    expectExit(bad, 2, "--format xml");
    assert.match(bad.stderr, /Invalid value "xml" for --format/);
    assert.match(bad.stderr, /text, json, github, sarif/);
    const clash = await strata(["lint", "--format", "sarif", "--json"], { cwd });
    expectExit(clash, 2, "--format sarif --json");
    assert.equal(parseJson(clash, "clash").error.code, "USAGE");
  });
});

Deno.test("githubAnnotations escapes %, CR and LF in messages, and also : and , in properties", () => {
  const finding: Finding = {
    rule: "ban-drop-table",
    severity: "error",
    file: "db/a,b:c/20240101_0000_x.sql",
    line: 7,
    column: 3,
    revision: "20240101_0000_x",
    section: "up",
    message: 'DROP TABLE "50%"\r\nnext',
    why: "data: lost, for good",
    instead: "keep it",
  };
  assert.equal(
    githubAnnotations([finding]),
    "::error file=db/a%2Cb%3Ac/20240101_0000_x.sql,line=7,col=3,title=strata lint ban-drop-table::" +
      'DROP TABLE "50%25"%0D%0Anext%0Awhy: data: lost, for good%0Ainstead: keep it\n',
  );
});

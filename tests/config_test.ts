import assert from "node:assert/strict";
import { join } from "node:path";
import { databaseLabel, requireDatabase, resolveConfig } from "../lib/config.ts";
import { StrataError } from "../lib/errors.ts";
import { redact } from "../lib/redact.ts";
import { rejection } from "./helpers.ts";

/** Run `fn` with the path of a strata.json in a fresh temp folder (written when `content` is given). */
async function withConfigFile(
  content: string | Record<string, unknown> | undefined,
  fn: (file: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "strata-config-test-" });
  const file = join(dir, "strata.json");
  try {
    if (content !== undefined) {
      await Deno.writeTextFile(
        file,
        typeof content === "string" ? content : JSON.stringify(content, null, 2),
      );
    }
    await fn(file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("defaults when nothing is configured", async () => {
  await withConfigFile(undefined, async (file) => {
    const config = await resolveConfig({}, {}, file);
    assert.deepEqual(config, {
      database: undefined,
      databaseSource: undefined,
      dir: "migrations",
      table: undefined,
      lockTimeoutMs: 60_000,
      connectTimeoutMs: 10_000,
      statementTimeoutMs: 0,
      lockWaitMs: 0,
      lockRetries: 0,
      allowOutOfOrder: false,
      multipleHeads: false,
      schemas: ["public"],
      schemaFile: "schema.sql",
      lintFailOn: "error",
      singleTransaction: false,
      driftGate: false,
      databaseOverridden: [],
      lockStrategy: "session",
      lockLeaseMs: 30_000,
    });
  });
});

Deno.test("requireDatabase: nothing configured is a CONFIG error; never a silent embedded default", async () => {
  await withConfigFile(undefined, async (file) => {
    const config = await resolveConfig({}, {}, file);
    assert.equal(config.database, undefined);
    const error = (() => {
      try {
        requireDatabase(config);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(error instanceof StrataError);
    assert.equal(error.code, "CONFIG");
    assert.ok(error.hint, "the error says how to configure a database");
    assert.equal(databaseLabel(config), "(none)");
  });
});

Deno.test("requireDatabase returns the configured URL", async () => {
  await withConfigFile({ database: "pglite:memory" }, async (file) => {
    const config = await resolveConfig({}, {}, file);
    assert.equal(requireDatabase(config), "pglite:memory");
    assert.equal(config.databaseSource, file);
  });
});

Deno.test("strata.json sets every key", async () => {
  const content = {
    database: "pglite:.strata/demo",
    dir: "db/migrations",
    table: "ops.ledger",
    lockTimeout: "5s",
    connectTimeout: "500ms",
    statementTimeout: "1m",
    lockWait: 3,
    allowOutOfOrder: true,
    multipleHeads: true,
    schemas: ["public", "audit"],
    schema: "db/schema.sql",
    lintFailOn: "warning",
    singleTransaction: true,
    driftGate: true,
    lockStrategy: "table",
    lockLease: "10s",
  };
  await withConfigFile(content, async (file) => {
    const config = await resolveConfig({}, {}, file);
    assert.deepEqual(config, {
      database: "pglite:.strata/demo",
      databaseSource: file,
      dir: "db/migrations",
      table: "ops.ledger",
      lockTimeoutMs: 5_000,
      connectTimeoutMs: 500,
      statementTimeoutMs: 60_000,
      lockWaitMs: 3_000,
      lockRetries: 0,
      allowOutOfOrder: true,
      multipleHeads: true,
      schemas: ["public", "audit"],
      schemaFile: "db/schema.sql",
      lintFailOn: "warning",
      singleTransaction: true,
      driftGate: true,
      databaseOverridden: [],
      lockStrategy: "table",
      lockLeaseMs: 10_000,
    });
  });
});

Deno.test("the environment beats strata.json", async () => {
  const content = {
    database: "pglite:from-file",
    dir: "from-file",
    table: "from_file",
    lockTimeout: "1s",
    connectTimeout: "1s",
    statementTimeout: "1s",
    lockWait: "1s",
    allowOutOfOrder: true,
    multipleHeads: true,
    schemas: ["from_file"],
    schema: "from-file.sql",
    lintFailOn: "warning",
    singleTransaction: true,
    driftGate: true,
    lockStrategy: "table",
    lockLease: "10s",
  };
  const env = {
    STRATA_DATABASE: "pglite:from-env",
    STRATA_DIR: "from-env",
    STRATA_TABLE: "from_env",
    STRATA_LOCK_TIMEOUT: "2s",
    STRATA_CONNECT_TIMEOUT: "3s",
    STRATA_STATEMENT_TIMEOUT: "4s",
    STRATA_LOCK_WAIT: "5s",
    STRATA_ALLOW_OUT_OF_ORDER: "false",
    STRATA_MULTIPLE_HEADS: "0",
    STRATA_SCHEMAS: "app, audit",
    STRATA_SCHEMA: "from-env.sql",
    STRATA_LINT_FAIL_ON: "Error",
    STRATA_SINGLE_TRANSACTION: "0",
    STRATA_DRIFT_GATE: "0",
    STRATA_LOCK_STRATEGY: "session",
    STRATA_LOCK_LEASE: "7s",
  };
  await withConfigFile(content, async (file) => {
    const config = await resolveConfig({}, env, file);
    assert.deepEqual(config, {
      database: "pglite:from-env",
      databaseSource: "STRATA_DATABASE",
      dir: "from-env",
      table: "from_env",
      lockTimeoutMs: 2_000,
      connectTimeoutMs: 3_000,
      statementTimeoutMs: 4_000,
      lockWaitMs: 5_000,
      lockRetries: 0,
      allowOutOfOrder: false,
      multipleHeads: false,
      schemas: ["app", "audit"],
      schemaFile: "from-env.sql",
      lintFailOn: "error",
      singleTransaction: false,
      driftGate: false,
      // Never silent: the losing file setting is kept for the operator's line.
      databaseOverridden: [{ source: file, database: "pglite:from-file" }],
      lockStrategy: "session",
      lockLeaseMs: 7_000,
    });
  });
});

Deno.test("flags beat the environment and strata.json", async () => {
  const content = {
    database: "pglite:from-file",
    dir: "from-file",
    lockTimeout: "1s",
    lintFailOn: "error",
  };
  const env = {
    STRATA_DATABASE: "pglite:from-env",
    DATABASE_URL: "postgres://env@h/db",
    STRATA_DIR: "from-env",
    STRATA_TABLE: "from_env",
    STRATA_LOCK_TIMEOUT: "2s",
    STRATA_LOCK_WAIT: "2s",
  };
  await withConfigFile(content, async (file) => {
    const config = await resolveConfig(
      {
        database: "pglite:memory",
        dir: "from-flag",
        table: "s.from_flag",
        "lock-timeout": "9s",
        "connect-timeout": "8s",
        "statement-timeout": "7s",
        "lock-wait": "250ms",
        "allow-out-of-order": true,
        heads: true,
        schema: "from-flag.sql",
        "fail-on": "warning",
        "single-transaction": true,
        "require-no-drift": true,
        "lock-strategy": "table",
        "lock-lease": "2s",
      },
      { ...env, STRATA_LOCK_STRATEGY: "session", STRATA_LOCK_LEASE: "7s" },
      file,
    );
    assert.deepEqual(config, {
      database: "pglite:memory",
      databaseSource: "--database",
      dir: "from-flag",
      table: "s.from_flag",
      lockTimeoutMs: 9_000,
      connectTimeoutMs: 8_000,
      statementTimeoutMs: 7_000,
      lockWaitMs: 250,
      lockRetries: 0,
      allowOutOfOrder: true,
      multipleHeads: true,
      schemas: ["public"],
      schemaFile: "from-flag.sql",
      lintFailOn: "warning",
      singleTransaction: true,
      driftGate: true,
      databaseOverridden: [
        { source: "STRATA_DATABASE", database: "pglite:from-env" },
        { source: "DATABASE_URL", database: "postgres://env@h/db" },
        { source: file, database: "pglite:from-file" },
      ],
      lockStrategy: "table",
      lockLeaseMs: 2_000,
    });
  });
});

Deno.test("database precedence: STRATA_DATABASE > DATABASE_URL > PG* > strata.json", async () => {
  await withConfigFile({ database: "pglite:file" }, async (file) => {
    const pg = { PGHOST: "pghost", PGDATABASE: "pgdb" };
    const full = { STRATA_DATABASE: "pglite:strata", DATABASE_URL: "postgres://u@url/db", ...pg };

    let config = await resolveConfig({}, full, file);
    assert.equal(config.database, "pglite:strata");
    assert.equal(config.databaseSource, "STRATA_DATABASE");

    config = await resolveConfig({}, { ...full, STRATA_DATABASE: undefined }, file);
    assert.equal(config.database, "postgres://u@url/db");
    assert.equal(config.databaseSource, "DATABASE_URL");

    config = await resolveConfig({}, pg, file);
    assert.equal(config.database, "postgres://postgres@pghost:5432/pgdb");
    assert.equal(config.databaseSource, "PG* variables");

    config = await resolveConfig({}, {}, file);
    assert.equal(config.database, "pglite:file");
    assert.equal(config.databaseSource, file);
  });
});

Deno.test("an empty environment variable counts as unset", async () => {
  await withConfigFile({ database: "pglite:file", dir: "file-dir" }, async (file) => {
    const config = await resolveConfig(
      {},
      { STRATA_DATABASE: "", DATABASE_URL: "", STRATA_DIR: "", STRATA_LOCK_TIMEOUT: "" },
      file,
    );
    assert.equal(config.database, "pglite:file");
    assert.equal(config.dir, "file-dir");
    assert.equal(config.lockTimeoutMs, 60_000);
  });
});

Deno.test("PG* variables build a server URL; libpq defaults fill the gaps", async () => {
  await withConfigFile(undefined, async (file) => {
    let config = await resolveConfig(
      {},
      { PGHOST: "db.example.com", PGPORT: "6432", PGUSER: "app", PGDATABASE: "appdb" },
      file,
    );
    assert.equal(config.database, "postgres://app@db.example.com:6432/appdb");

    // The database defaults to the user name, as in libpq.
    config = await resolveConfig({}, { PGUSER: "alice" }, file);
    assert.equal(config.database, "postgres://alice@localhost:5432/alice");

    config = await resolveConfig({}, { PGPORT: "5433" }, file);
    assert.equal(config.database, "postgres://postgres@localhost:5433/postgres");

    // PGPASSWORD alone names no server.
    config = await resolveConfig({}, { PGPASSWORD: "pw-only-Hq2" }, file);
    assert.equal(config.database, undefined);
  });
});

Deno.test("PG* variables: special characters in user and database are percent-encoded", async () => {
  await withConfigFile(undefined, async (file) => {
    const config = await resolveConfig(
      {},
      { PGHOST: "h", PGUSER: "a b@c", PGDATABASE: "my/db?x" },
      file,
    );
    const url = new URL(config.database!);
    assert.equal(decodeURIComponent(url.username), "a b@c");
    assert.equal(decodeURIComponent(url.pathname.slice(1)), "my/db?x");
    assert.equal(url.hostname, "h");
  });
});

Deno.test("PG* variables: an IPv6 PGHOST gives a valid URL", async () => {
  await withConfigFile(undefined, async (file) => {
    const config = await resolveConfig({}, { PGHOST: "::1", PGDATABASE: "appdb" }, file);
    const url = new URL(config.database!);
    assert.equal(url.hostname, "[::1]");
    assert.equal(url.port, "5432");
    assert.equal(url.pathname, "/appdb");
  });
});

Deno.test("PG* variables: a Unix-socket PGHOST keeps database and socket folder apart", async () => {
  await withConfigFile(undefined, async (file) => {
    const config = await resolveConfig(
      {},
      { PGHOST: "/var/run/postgresql", PGDATABASE: "appdb" },
      file,
    );
    const url = new URL(config.database!);
    // libpq form: postgresql://user@/appdb?host=/var/run/postgresql (or the host percent-encoded)
    assert.equal(url.pathname, "/appdb");
    const socket = url.searchParams.get("host") ?? decodeURIComponent(url.hostname);
    assert.equal(socket, "/var/run/postgresql");
  });
});

Deno.test("PGPASSWORD and a URL password are registered as secrets", async () => {
  await withConfigFile(undefined, async (file) => {
    await resolveConfig(
      { database: "postgres://app:Url-Secret-7Kq@db.example.com/appdb" },
      { PGPASSWORD: "Env-Secret-9Zx" },
      file,
    );
    const out = redact("auth failed: Url-Secret-7Kq / Env-Secret-9Zx");
    assert.ok(!out.includes("Url-Secret-7Kq"), out);
    assert.ok(!out.includes("Env-Secret-9Zx"), out);
  });
});

Deno.test("databaseLabel hides the password", async () => {
  await withConfigFile(undefined, async (file) => {
    const config = await resolveConfig(
      {},
      { DATABASE_URL: "postgres://app:Label-Secret-3Fj@db.example.com:5432/appdb" },
      file,
    );
    const label = databaseLabel(config);
    assert.ok(!label.includes("Label-Secret-3Fj"), label);
    assert.ok(label.includes("db.example.com"), label);
  });
});

Deno.test("durations: ms, s, m, h and a bare number of seconds", async () => {
  await withConfigFile(undefined, async (file) => {
    const cases: Array<[string, number]> = [
      ["500ms", 500],
      ["2s", 2_000],
      ["1m", 60_000],
      ["1h", 3_600_000],
      ["5", 5_000],
      ["0", 0],
      ["1.5s", 1_500],
      ["0.25", 250],
      [" 3s ", 3_000],
    ];
    for (const [value, ms] of cases) {
      const config = await resolveConfig({ "lock-timeout": value }, {}, file);
      assert.equal(config.lockTimeoutMs, ms, value);
    }
  });
});

Deno.test("a bare number in strata.json is seconds", async () => {
  await withConfigFile({ lockTimeout: 2, statementTimeout: 0.5 }, async (file) => {
    const config = await resolveConfig({}, {}, file);
    assert.equal(config.lockTimeoutMs, 2_000);
    assert.equal(config.statementTimeoutMs, 500);
  });
});

Deno.test("an invalid duration flag is a USAGE error naming the option", async () => {
  await withConfigFile(undefined, async (file) => {
    const flags = ["lock-timeout", "connect-timeout", "statement-timeout", "lock-wait"] as const;
    for (const flag of flags) {
      for (const value of ["fast", "-1s", "1d", "5 seconds", "ms"]) {
        const error = await rejection(resolveConfig({ [flag]: value }, {}, file));
        assert.equal(error.code, "USAGE", `${flag}=${value}`);
        assert.ok(error.message.includes(`--${flag}`), error.message);
      }
    }
  });
});

Deno.test("an invalid duration in the environment names the variable", async () => {
  await withConfigFile(undefined, async (file) => {
    const error = await rejection(resolveConfig({}, { STRATA_LOCK_WAIT: "soon" }, file));
    assert.equal(error.code, "USAGE");
    assert.ok(error.message.includes("STRATA_LOCK_WAIT"), error.message);
  });
});

Deno.test("an invalid duration in strata.json names the key and the file", async () => {
  await withConfigFile({ connectTimeout: "forever" }, async (file) => {
    const error = await rejection(resolveConfig({}, {}, file));
    assert.ok(["USAGE", "CONFIG"].includes(error.code), error.code);
    assert.ok(error.message.includes("connectTimeout"), error.message);
    assert.ok(error.file === file || error.message.includes(file), error.message);
  });
});

Deno.test("allowOutOfOrder from the environment: true/1 enable it", async () => {
  await withConfigFile(undefined, async (file) => {
    for (const [value, expected] of [["true", true], ["1", true], ["false", false], ["0", false]]) {
      const config = await resolveConfig({}, { STRATA_ALLOW_OUT_OF_ORDER: value as string }, file);
      assert.equal(config.allowOutOfOrder, expected, String(value));
    }
  });
});

Deno.test("multipleHeads: true/1 and false/0; anything else is a CONFIG error naming where", async () => {
  await withConfigFile(undefined, async (file) => {
    for (const [value, expected] of [["true", true], ["1", true], ["false", false], ["0", false]]) {
      const config = await resolveConfig({}, { STRATA_MULTIPLE_HEADS: value as string }, file);
      assert.equal(config.multipleHeads, expected, String(value));
    }
    const error = await rejection(resolveConfig({}, { STRATA_MULTIPLE_HEADS: "yes" }, file));
    assert.equal(error.code, "CONFIG");
    assert.match(error.message, /STRATA_MULTIPLE_HEADS must be true or false, not "yes"/);
  });
  await withConfigFile({ multipleHeads: "always" }, async (file) => {
    const error = await rejection(resolveConfig({}, {}, file));
    assert.equal(error.code, "CONFIG");
    assert.ok(error.message.includes(`"multipleHeads" in ${file}`), error.message);
    // The flag beats the bad file value, as flags beat the file for every key.
    assert.equal((await resolveConfig({ heads: true }, {}, file)).multipleHeads, true);
  });
});

Deno.test("an unknown key in strata.json is a CONFIG error naming the file", async () => {
  await withConfigFile({ database: "pglite:memory", lock_timeout: "5s" }, async (file) => {
    const error = await rejection(resolveConfig({}, {}, file));
    assert.equal(error.code, "CONFIG");
    assert.equal(error.file, file);
    assert.ok(error.message.includes("lock_timeout"), error.message);
  });
});

Deno.test("invalid JSON in strata.json is a CONFIG error naming the file", async () => {
  for (const text of ['{ "database": "pglite:memory", }', "{", "", "dir = migrations"]) {
    await withConfigFile(text, async (file) => {
      const error = await rejection(resolveConfig({}, {}, file));
      assert.equal(error.code, "CONFIG", text);
      assert.equal(error.file, file, text);
    });
  }
});

Deno.test("strata.json that is not an object is a CONFIG error naming the file", async () => {
  for (const text of ["[]", '"pglite:memory"', "null", "42"]) {
    await withConfigFile(text, async (file) => {
      const error = await rejection(resolveConfig({}, {}, file));
      assert.equal(error.code, "CONFIG", text);
      assert.equal(error.file, file, text);
    });
  }
});

Deno.test("a strata.json value of the wrong type is a CONFIG error naming the file", async () => {
  await withConfigFile({ dir: ["a", "b"] }, async (file) => {
    const error = await rejection(resolveConfig({}, {}, file));
    assert.equal(error.code, "CONFIG");
    assert.equal(error.file, file);
  });
  await withConfigFile({ database: { host: "x" } }, async (file) => {
    const error = await rejection(resolveConfig({}, {}, file));
    assert.equal(error.code, "CONFIG");
    assert.equal(error.file, file);
  });
});

Deno.test("a strata.json path that is a folder is a CONFIG error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "strata-config-test-" });
  try {
    const error = await rejection(resolveConfig({}, {}, dir));
    assert.equal(error.code, "CONFIG");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("schemas in strata.json must be a list of names", async () => {
  for (const schemas of ["public", [], [""], [1]]) {
    await withConfigFile({ schemas }, async (file) => {
      const error = await resolveConfig({}, {}, file).then(() => null, (e) => e);
      assert.ok(error instanceof StrataError, JSON.stringify(schemas));
      assert.equal(error.code, "CONFIG");
      assert.match(error.message, /"schemas"/);
    });
  }
});

Deno.test("an unknown lint level is a CONFIG error naming where it came from", async () => {
  await withConfigFile({ lintFailOn: "info" }, async (file) => {
    const fromFile = await rejection(resolveConfig({}, {}, file));
    assert.equal(fromFile.code, "CONFIG");
    assert.ok(fromFile.message.includes(`"info" in "lintFailOn" in ${file}`), fromFile.message);
    assert.match(fromFile.hint ?? "", /error, warning/);
    const fromFlag = await rejection(resolveConfig({ "fail-on": "never" }, {}, file));
    assert.ok(fromFlag.message.includes('"never" in --fail-on'), fromFlag.message);
  });
});

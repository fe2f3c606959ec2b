/**
 * `strata fleet` through the real command line, on real databases the tests
 * create and drop (and an embedded one): apply over several targets, re-run,
 * a broken target under each --on-error, a canary, a targets query, the
 * read-only commands, the report's shape, masked passwords, bounded
 * connections, Ctrl-C.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import {
  dump,
  expectExit,
  MAIN,
  parseJson,
  queryDb,
  SERVER_URL,
  serverDirTest,
  spawnStrata,
  strata,
  waitForQuery,
  writeMigration,
} from "./helpers.ts";

const A = "20240101_0000_a";
const B = "20240101_0001_b";
const C = "20240101_0002_c";
// Trust auth ignores it: a password that must never be printed.
const PASSWORD = "Fl33tHunter2Secret";

interface Databases {
  prefix: string;
  names: string[];
  urls: string[];
  drop(): Promise<void>;
}

/** `n` fresh databases named PREFIX_1 … PREFIX_n. */
async function databases(n: number): Promise<Databases> {
  const prefix = `strata_fleet_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  const names = Array.from({ length: n }, (_, i) => `${prefix}_${i + 1}`);
  const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  try {
    for (const name of names) await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const urls = names.map((name) => {
    const url = new URL(SERVER_URL);
    url.pathname = `/${name}`;
    return url.toString();
  });
  return {
    prefix,
    names,
    urls,
    async drop() {
      const sql = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
      try {
        for (const name of names) await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await sql.end();
      }
    },
  };
}

/** A server test with a scratch folder and `n` databases. */
function fleetTest(name: string, n: number, fn: (dir: string, dbs: Databases) => Promise<void>) {
  serverDirTest(name, async (dir) => {
    const dbs = await databases(n);
    try {
      await fn(dir, dbs);
    } finally {
      await dbs.drop();
    }
  });
}

/** Revisions a and b (b runs `bSql`), and c when given. */
async function writeRevisions(dir: string, bSql = "CREATE TABLE fleet_b (id int);", cSql?: string) {
  const migrations = join(dir, "migrations");
  await writeMigration(
    migrations,
    A,
    "-- parents:\n-- up\nCREATE TABLE fleet_a (id int);\n-- down\nDROP TABLE fleet_a;\n",
  );
  await writeMigration(migrations, B, `-- parents: ${A}\n-- up\n${bSql}\n-- down\nSELECT 1;\n`);
  if (cSql) {
    await writeMigration(migrations, C, `-- parents: ${B}\n-- up\n${cSql}\n-- down\nSELECT 1;\n`);
  }
}

/** A targets file `t1 URL1`, `t2 URL2`, … in `dir`. */
async function targetsFile(dir: string, urls: string[], extra = ""): Promise<string> {
  const text = urls.map((url, i) => `t${i + 1} ${url}`).join("\n") + "\n" + extra;
  await Deno.writeTextFile(join(dir, "targets.txt"), text);
  return "targets.txt";
}

const fleet = (dir: string, ...args: string[]) => strata(["fleet", ...args], { cwd: dir });

async function ledgerRows(url: string): Promise<string[] | null> {
  const [{ exists }] = await queryDb<{ exists: boolean }>(
    url,
    "SELECT to_regclass('strata_ledger') IS NOT NULL AS exists",
  );
  if (!exists) return null;
  const rows = await queryDb<{ revision: string }>(
    url,
    "SELECT revision FROM strata_ledger ORDER BY 1",
  );
  return rows.map((row) => row.revision);
}

// deno-lint-ignore no-explicit-any
type Doc = any;

const results = (doc: Doc) => doc.targets.map((t: Doc) => `${t.name} ${t.result}`);

fleetTest(
  "apply over six databases (one embedded) with --parallel 3; a re-run does nothing; passwords masked",
  5,
  async (dir, dbs) => {
    await writeRevisions(dir);
    // One URL carries a password the server ignores (trust auth); one target is embedded.
    const urls = [...dbs.urls];
    urls[1] = urls[1].replace("postgres@", `postgres:${PASSWORD}@`);
    const file = await targetsFile(
      dir,
      urls,
      `# an embedded one\nembedded pglite:${join(dir, "emb")}\n`,
    );

    const first = await fleet(dir, "apply", "--targets", file, "--parallel", "3", "--json");
    expectExit(first, 0, "fleet apply");
    const doc = parseJson(first, "fleet apply --json");
    assert.equal(doc.ok, true);
    assert.equal(doc.command, "fleet");
    assert.equal(doc.action, "apply");
    assert.equal(doc.parallel, 3);
    assert.equal(doc.canary, 0);
    assert.equal(doc.onError, "stop");
    assert.equal(doc.exitCode, 0);
    assert.deepEqual(results(doc), ["t1 ok", "t2 ok", "t3 ok", "t4 ok", "t5 ok", "embedded ok"]);
    for (const target of doc.targets) {
      assert.deepEqual(Object.keys(target).sort(), [
        "applied",
        "current",
        "database",
        "error",
        "findings",
        "ms",
        "name",
        "pending",
        "reason",
        "result",
      ]);
      assert.deepEqual(target.applied, [A, B]);
      assert.equal(target.error, null);
      assert.equal(typeof target.ms, "number");
    }
    assert.equal(doc.targets[1].database, urls[1].replace(PASSWORD, "***"));
    assert.deepEqual(doc.summary.targets, 6);
    assert.equal(doc.summary.ok, 6);
    assert.equal(doc.summary.applied, 12);
    for (const url of dbs.urls) assert.deepEqual(await ledgerRows(url), [A, B]);
    // Off a terminal: a line per finished target (on stderr with --json).
    for (const name of ["t1", "t5", "embedded"]) {
      assert.match(first.stderr, new RegExp(`✓ ${name} ok, 2 applied`), dump(first));
    }

    const again = await fleet(dir, "apply", "--targets", file, "--parallel", "3");
    expectExit(again, 0, "the same fleet again");
    assert.match(again.stdout, /^TARGET +RESULT +REVISIONS +TIME +DETAIL$/m, dump(again));
    for (const name of ["t1", "t2", "t3", "t4", "t5", "embedded"]) {
      assert.match(again.stdout, new RegExp(`^${name} +ok +0 applied `, "m"), dump(again));
    }
    assert.match(again.stdout, /fleet apply: 6 targets: 6 ok, 0 revisions applied in /);
    for (const r of [first, again]) {
      assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), `password printed:\n${dump(r)}`);
    }
    assert.match(again.stdout, /postgres:\*\*\*@|t2 /);

    const status = await fleet(dir, "status", "--targets", file, "--json");
    expectExit(status, 0, "fleet status");
    const statusDoc = parseJson(status, "fleet status");
    for (const target of statusDoc.targets) {
      assert.equal(target.result, "ok");
      assert.deepEqual(target.current, [B]);
      assert.deepEqual(target.pending, []);
    }
    assert.ok(!(status.stdout + status.stderr).includes(PASSWORD));
  },
);

fleetTest(
  "a broken target with --on-error continue: exit 6, the others at head",
  4,
  async (dir, dbs) => {
    await writeRevisions(dir);
    // Revision b conflicts with what t2 already holds.
    await queryDb(dbs.urls[1], "CREATE TABLE fleet_b (x text)");
    const file = await targetsFile(dir, dbs.urls);
    const r = await fleet(
      dir,
      "apply",
      "--targets",
      file,
      "--parallel",
      "2",
      "--on-error",
      "continue",
      "--json",
    );
    expectExit(r, 6, "one of four failed");
    const doc = parseJson(r, "fleet apply");
    assert.equal(doc.ok, false);
    assert.equal(doc.exitCode, 6);
    assert.deepEqual(results(doc), ["t1 ok", "t2 failed", "t3 ok", "t4 ok"]);
    const broken = doc.targets[1];
    assert.equal(broken.error.code, "MIGRATION_FAILED");
    assert.match(broken.error.message, /fleet_b/);
    assert.deepEqual(broken.applied, [A], "the revision that committed before the failure");
    assert.deepEqual(doc.summary, { ...doc.summary, ok: 3, failed: 1, skipped: 0, applied: 7 });
    for (const i of [0, 2, 3]) assert.deepEqual(await ledgerRows(dbs.urls[i]), [A, B]);
    assert.deepEqual(await ledgerRows(dbs.urls[1]), [A]);

    const text = await fleet(dir, "apply", "--targets", file, "--on-error", "continue");
    expectExit(text, 6, "again, as text");
    assert.match(text.stdout, /^t2 +failed +0 applied +\S+ +MIGRATION_FAILED: /m, dump(text));
    assert.match(text.stdout, /4 targets: 3 ok, 1 failed/);
  },
);

fleetTest(
  "--on-error stop (default) with --parallel 1: the targets after a failure are skipped, untouched",
  4,
  async (dir, dbs) => {
    await writeRevisions(dir);
    await queryDb(dbs.urls[1], "CREATE TABLE fleet_a (x text)");
    const file = await targetsFile(dir, dbs.urls);
    const r = await fleet(dir, "apply", "--targets", file, "--parallel", "1", "--json");
    expectExit(r, 6, "t1 succeeded, t2 failed, the rest skipped");
    const doc = parseJson(r, "fleet apply");
    assert.deepEqual(results(doc), ["t1 ok", "t2 failed", "t3 skipped", "t4 skipped"]);
    for (const skipped of doc.targets.slice(2)) {
      assert.match(skipped.reason, /on-error stop: t2 failed/);
      assert.equal(skipped.ms, null);
    }
    assert.equal(doc.summary.skipped, 2);
    assert.equal(await ledgerRows(dbs.urls[2]), null, "t3 never touched");
    assert.equal(await ledgerRows(dbs.urls[3]), null, "t4 never touched");
  },
);

fleetTest(
  "--canary 1: a failing canary starts nothing else; a good canary lets the rest run",
  4,
  async (dir, dbs) => {
    await writeRevisions(dir);
    await queryDb(dbs.urls[0], "CREATE TABLE fleet_a (x text)");
    const file = await targetsFile(dir, dbs.urls);
    const r = await fleet(
      dir,
      "apply",
      "--targets",
      file,
      "--canary",
      "1",
      "--parallel",
      "4",
      "--on-error",
      "continue",
      "--json",
    );
    expectExit(r, 1, "the canary failed (MIGRATION_FAILED), nothing else ran");
    const doc = parseJson(r, "fleet apply");
    assert.deepEqual(results(doc), ["t1 failed", "t2 skipped", "t3 skipped", "t4 skipped"]);
    assert.match(doc.targets[1].reason, /canary/);
    for (const url of dbs.urls.slice(1)) assert.equal(await ledgerRows(url), null);

    await queryDb(dbs.urls[0], "DROP TABLE fleet_a");
    const good = await fleet(
      dir,
      "apply",
      "--targets",
      file,
      "--canary",
      "2",
      "--json",
      "--verbose",
    );
    expectExit(good, 0, "a good canary");
    // --verbose: each target's own lines, named.
    assert.match(good.stderr, new RegExp(`^\\[t3\\] ↑ ${A} `, "m"), dump(good));
    assert.deepEqual(results(parseJson(good, "fleet apply")), ["t1 ok", "t2 ok", "t3 ok", "t4 ok"]);
  },
);

fleetTest(
  "--targets-query over a pattern of databases, with a targets file beside it",
  3,
  async (dir, dbs) => {
    await writeRevisions(dir);
    const query =
      `SELECT datname FROM pg_database WHERE datname LIKE '${dbs.prefix}\\_%' ORDER BY 1`;
    const r = await fleet(
      dir,
      "apply",
      "--database",
      SERVER_URL,
      "--targets-query",
      query,
      "--json",
    );
    expectExit(r, 0, "fleet apply over a query");
    const doc = parseJson(r, "fleet apply");
    assert.deepEqual(doc.targets.map((t: Doc) => t.name), dbs.names);
    for (const url of dbs.urls) assert.deepEqual(await ledgerRows(url), [A, B]);

    // The file's target and the query's same row merge; a name column names the others.
    await Deno.writeTextFile(join(dir, "targets.txt"), `first ${dbs.urls[0]}\n`);
    const named =
      `SELECT datname, CASE WHEN datname LIKE '%\\_1' THEN 'first' ELSE upper(datname) END AS name
    FROM pg_database WHERE datname LIKE '${dbs.prefix}\\_%' ORDER BY 1`;
    const both = await fleet(
      dir,
      "status",
      "--database",
      SERVER_URL,
      "--targets",
      "targets.txt",
      "--targets-query",
      named,
      "--json",
    );
    expectExit(both, 0, "file and query");
    assert.deepEqual(parseJson(both, "fleet status").targets.map((t: Doc) => t.name), [
      "first",
      dbs.names[1].toUpperCase(),
      dbs.names[2].toUpperCase(),
    ]);

    // The same database under another name is refused before anything runs.
    await Deno.writeTextFile(join(dir, "targets.txt"), `other ${dbs.urls[0]}\n`);
    const clash = await fleet(
      dir,
      "apply",
      "--database",
      SERVER_URL,
      "--targets",
      "targets.txt",
      "--targets-query",
      query,
      "--json",
    );
    expectExit(clash, 2, "one database under two names");
    assert.equal(parseJson(clash, "clash").error.code, "CONFIG");
    assert.match(parseJson(clash, "clash").error.message, /listed twice/);
  },
);

fleetTest(
  "status, check, drift and verify-applied report per target what they found",
  3,
  async (dir, dbs) => {
    await writeRevisions(dir);
    const file = await targetsFile(dir, dbs.urls);
    const up = await fleet(dir, "upgrade", A, "--targets", file, "--json");
    expectExit(up, 0, "fleet upgrade A");
    assert.deepEqual(parseJson(up, "upgrade").targets.map((t: Doc) => t.applied), [[A], [A], [A]]);

    const status = parseJson(await fleet(dir, "status", "--targets", file, "--json"), "status");
    assert.equal(status.exitCode, 0);
    for (const target of status.targets) {
      assert.equal(target.result, "ok");
      assert.deepEqual(target.pending, [B]);
      assert.deepEqual(target.current, [A]);
      assert.deepEqual(target.findings, ["1 pending"]);
    }
    const check = await fleet(dir, "check", "--targets", file, "--json");
    expectExit(check, 3, "fleet check with a revision pending everywhere");
    assert.deepEqual(results(parseJson(check, "check")), ["t1 found", "t2 found", "t3 found"]);

    expectExit(await fleet(dir, "apply", "--targets", file), 0, "fleet apply");
    expectExit(await fleet(dir, "check", "--targets", file), 0, "fleet check at head");

    await queryDb(dbs.urls[1], "CREATE TABLE sneaky (id int)");
    const drift = await fleet(dir, "drift", "--targets", file, "--scratch", SERVER_URL, "--json");
    expectExit(drift, 3, "drift on t2");
    const driftDoc = parseJson(drift, "drift");
    assert.deepEqual(results(driftDoc), ["t1 ok", "t2 found", "t3 ok"]);
    assert.ok(driftDoc.targets[1].findings.includes("+ table public.sneaky"), dump(drift));
    assert.deepEqual(driftDoc.targets[0].findings, []);

    const verified = await fleet(dir, "verify-applied", "--targets", file, "--json");
    expectExit(verified, 0, "verify-applied, files intact");
    assert.deepEqual(results(parseJson(verified, "verify-applied")), ["t1 ok", "t2 ok", "t3 ok"]);
    const path = join(dir, "migrations", `${B}.sql`);
    await Deno.writeTextFile(path, (await Deno.readTextFile(path)) + "-- edited\n");
    const edited = await fleet(dir, "verify-applied", "--targets", file);
    expectExit(edited, 3, "verify-applied after an edit");
    assert.match(edited.stdout, new RegExp(`^t1 +found +\\S+ +edited ${B}$`, "m"), dump(edited));
    assert.match(edited.stdout, /3 targets: 0 ok, 3 found something/);
  },
);

fleetTest("bad input stops the fleet before any target is touched", 1, async (dir, dbs) => {
  await writeRevisions(dir);
  await Deno.writeTextFile(join(dir, "targets.txt"), `t1 ${dbs.urls[0]}\nt2 not-a-url\n`);
  const bad = await fleet(dir, "apply", "--targets", "targets.txt");
  expectExit(bad, 2, "a bad targets line");
  assert.match(bad.stderr, /targets\.txt:2: Not a database URL: "not-a-url"/, dump(bad));

  await targetsFile(dir, dbs.urls);
  for (
    const [args, pattern] of [
      [["apply"], /needs --targets FILE or --targets-query SQL/],
      [
        ["apply", "--targets", "targets.txt", "--parallel", "0"],
        /--parallel must be a whole number/,
      ],
      [
        ["apply", "--targets", "targets.txt", "--on-error", "maybe"],
        /--on-error must be stop or continue/,
      ],
      [["downgrade", "--targets", "targets.txt"], /cannot run "downgrade"/],
      [["apply", "x", "--targets", "targets.txt"], /Wrong arguments/],
      [["apply", "--targets", "targets.txt", "--dry-run"], /does not take --dry-run/],
      [[], /needs a command/],
    ] as Array<[string[], RegExp]>
  ) {
    const r = await fleet(dir, ...args);
    expectExit(r, 2, `fleet ${args.join(" ")}`);
    assert.match(r.stderr, pattern, dump(r));
  }
  // A migration file that does not parse: exit 5, no target opened.
  await writeMigration(join(dir, "migrations"), "20240101_0003_broken", "no up section here\n");
  const broken = await fleet(dir, "apply", "--targets", "targets.txt", "--json");
  expectExit(broken, 5, "a broken migration file");
  assert.equal(parseJson(broken, "broken").error.code, "FILE");
  assert.equal(await ledgerRows(dbs.urls[0]), null, "the target was never touched");
});

fleetTest("connections stay bounded by --parallel: 2 over 6 targets", 6, async (dir, dbs) => {
  // Each target holds its connection for a while in revision b.
  await writeRevisions(dir, "SELECT pg_sleep(0.4);");
  const query = `SELECT datname FROM pg_database WHERE datname LIKE '${dbs.prefix}\\_%' ORDER BY 1`;
  const child = spawnStrata(
    [
      "fleet",
      "apply",
      "--database",
      SERVER_URL,
      "--targets-query",
      query,
      "--parallel",
      "2",
      "--json",
    ],
    dir,
    {},
  );
  const monitor = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  let most = 0;
  let exited = false;
  const finished = child.finish().then((r) => {
    exited = true;
    return r;
  });
  try {
    while (!exited) {
      const [{ n }] = await monitor.unsafe(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE application_name = 'strata' AND datname LIKE $1`,
        [`${dbs.prefix}\\_%`],
      );
      most = Math.max(most, n as number);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await monitor.end();
  }
  const r = await finished;
  expectExit(r, 0, "fleet apply --parallel 2");
  assert.equal(parseJson(r, "fleet").summary.ok, 6);
  assert.ok(most >= 1, "the sampling saw the fleet's connections");
  assert.ok(most <= 2, `at most 2 strata backends at once, saw ${most}`);
});

/**
 * A target that waits in revision b on `fleet_gate`, which the test keeps
 * locked until it calls the returned function; the table holds `rows` rows.
 */
async function gated(url: string, rows = 1) {
  await queryDb(url, "CREATE TABLE fleet_gate (id int)");
  if (rows > 0) await queryDb(url, `INSERT INTO fleet_gate SELECT generate_series(1, ${rows})`);
  const gate = postgres(url, { max: 1, onnotice: () => {} });
  const reserved = await gate.reserve();
  await reserved`BEGIN`;
  await reserved`LOCK TABLE fleet_gate IN ACCESS EXCLUSIVE MODE`;
  let open = true;
  return async () => {
    if (!open) return;
    open = false;
    await reserved`COMMIT`;
    reserved.release();
    await gate.end();
  };
}

/** Revision b waits on the gate, then fails where the gate is empty (division by zero). */
const GATED_B = "SELECT 1 / (SELECT count(*) FROM fleet_gate)::int;";

fleetTest(
  "--on-error stop: a running target stops after its current revision",
  2,
  async (dir, dbs) => {
    await writeRevisions(dir, GATED_B, "CREATE TABLE fleet_c (id int);");
    // Both wait in revision b; t2 then fails there (its gate is empty), while t1 still waits.
    const release1 = await gated(dbs.urls[0]);
    const release2 = await gated(dbs.urls[1], 0);
    const file = await targetsFile(dir, dbs.urls);
    const child = spawnStrata(
      ["fleet", "apply", "--targets", file, "--parallel", "2", "--json"],
      dir,
      {},
    );
    try {
      await waitForQuery(dbs.urls[0], "FROM fleet_gate", 90_000);
      await waitForQuery(dbs.urls[1], "FROM fleet_gate", 90_000);
      await release2();
      await child.waitForStderr("✗ t2 failed", 90_000);
    } finally {
      await release2();
      await release1();
    }
    const r = await child.finish();
    expectExit(r, 1, "no target succeeded: the failure's code");
    const doc = parseJson(r, "fleet apply");
    assert.deepEqual(results(doc), ["t1 interrupted", "t2 failed"]);
    assert.deepEqual(
      doc.targets[0].applied,
      [A, B],
      "t1 finished its current revision, then stopped",
    );
    assert.equal(doc.targets[0].error.code, "INTERRUPTED");
    assert.deepEqual(await ledgerRows(dbs.urls[0]), [A, B]);
  },
);

fleetTest(
  "Ctrl-C: no new target starts, the running one stops after its revision, report, exit 130",
  3,
  async (dir, dbs) => {
    await writeRevisions(dir, GATED_B, "CREATE TABLE fleet_c (id int);");
    const release = await gated(dbs.urls[0]);
    const file = await targetsFile(dir, dbs.urls);
    const child = spawnStrata(
      ["fleet", "apply", "--targets", file, "--parallel", "1", "--json"],
      dir,
      {},
    );
    try {
      await waitForQuery(dbs.urls[0], "FROM fleet_gate", 90_000);
      child.kill("SIGINT");
      await child.waitForStderr("Interrupted", 90_000);
    } finally {
      await release();
    }
    const r = await child.finish();
    expectExit(r, 130, "interrupted");
    const doc = parseJson(r, "fleet apply");
    assert.deepEqual(results(doc), ["t1 interrupted", "t2 skipped", "t3 skipped"]);
    assert.deepEqual(doc.targets[0].applied, [A, B]);
    assert.match(doc.targets[1].reason, /Ctrl-C/);
    assert.equal(doc.exitCode, 130);
    assert.equal(await ledgerRows(dbs.urls[1]), null);
  },
);

/** The report without timings. */
function untimed(doc: Doc): Doc {
  return {
    ...doc,
    targets: doc.targets.map((t: Doc) => ({ ...t, ms: null })),
    summary: { ...doc.summary, ms: null },
  };
}

fleetTest(
  "fleet() from code returns the document the CLI prints; a target's failure is a row",
  2,
  async (dir, dbs) => {
    await writeRevisions(dir);
    const { fleet: fleetApi } = await import("../mod.ts");
    const file = await targetsFile(dir, [
      ...dbs.urls,
      "postgres://postgres@127.0.0.1:5432/strata_fleet_no_such_db",
    ]);
    const options = {
      dir: join(dir, "migrations"),
      targets: join(dir, file),
      onError: "continue" as const,
    };
    const lines: string[] = [];
    const api = await fleetApi("apply", {
      ...options,
      parallel: 2,
      log: ({ text }) => lines.push(text),
    });
    assert.equal(api.exitCode, 6);
    assert.deepEqual(api.targets.map((t) => `${t.name} ${t.result}`), [
      "t1 ok",
      "t2 ok",
      "t3 failed",
    ]);
    assert.equal(api.targets[2].error?.code, "CONNECT");
    assert.ok(lines.some((line) => line.startsWith("✓ t1 ok")), lines.join("\n"));
    const again = await fleetApi("status", options);
    const cli = await fleet(
      dir,
      "status",
      "--targets",
      join(dir, file),
      "--on-error",
      "continue",
      "--json",
    );
    expectExit(cli, 6, "fleet status with a missing database");
    assert.deepEqual(untimed(again), untimed(parseJson(cli, "fleet status")));
  },
);

fleetTest(
  "on a terminal: one line rewritten in place (done, running, failed, left, slowest), a line per failure, then the table",
  2,
  async (dir, dbs) => {
    await writeRevisions(dir);
    const missing = `${dbs.urls[0]}_missing`;
    const file = await targetsFile(dir, [...dbs.urls, missing]);
    // script(1) (util-linux, in every Debian) gives the CLI a terminal on stdout and stderr.
    const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;
    const line = [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      MAIN,
      "fleet",
      "apply",
      "--targets",
      file,
      "--on-error",
      "continue",
    ]
      .map(quote).join(" ");
    const { code, stdout } = await new Deno.Command("script", {
      args: ["-qec", line, "/dev/null"],
      cwd: dir,
      env: {
        NO_COLOR: "1",
        STRATA_LOCK_TIMEOUT: "600s",
        ...Object.fromEntries(
          ["PATH", "HOME", "DENO_DIR", "TMPDIR"].flatMap((key) => {
            const value = Deno.env.get(key);
            return value ? [[key, value]] : [];
          }),
        ),
      },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 6, text);
    const rewritten = (line: string) => `\r\x1b[K${line}`;
    assert.ok(
      text.includes(
        rewritten("fleet apply: 0 done, 1 running, 0 failed, 2 left; slowest: t1 0:00"),
      ),
      JSON.stringify(text),
    );
    assert.ok(text.includes(rewritten("fleet apply: 3 done, 0 running, 1 failed, 0 left")), text);
    assert.doesNotMatch(text, /✓ t1/, "no line per successful target on a terminal");
    assert.match(text, /✗ t3 failed, CONNECT: /, "a failure has its line as it happens");
    assert.match(text, /t2 +ok +2 applied/);
  },
);

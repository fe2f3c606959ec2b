/**
 * Reliability scenario 8: bad migration files. Each is rejected by `apply`
 * with the file (and the line, where the problem has one) before anything
 * changes: a good revision beside it is not applied and no ledger is created.
 * A 50 MB file is handled or refused clearly, with bounded memory.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertNoCrash,
  dump,
  type Json,
  type Measured,
  mib,
  parseJson,
  queryDb,
  revId,
  revisionText,
  run,
  serverDirTest,
  writeMigration,
} from "./support.ts";

const GOOD = revId(0, "good");

async function writeGood(dir: string): Promise<void> {
  await writeMigration(
    join(dir, "migrations"),
    GOOD,
    revisionText("CREATE TABLE good (id int);", "DROP TABLE good;", { parents: "" }),
  );
}

/** `apply` exits 5 naming `file` (relative to the migrations folder) and `line`; nothing applied. */
async function rejected(
  dir: string,
  url: string,
  expect: { file: string; line?: number; codes?: string[]; mentions?: string[] },
): Promise<Json> {
  const r = await run(["apply", "--json"], { cwd: dir, env: { DATABASE_URL: url } });
  assertNoCrash(r, "apply");
  assert.equal(r.code, 5, `expected exit 5\n${dump(r)}`);
  const error = parseJson(r, "apply").error;
  assert.ok((expect.codes ?? ["FILE", "GRAPH"]).includes(error.code), dump(r));
  assert.equal(error.file, join("migrations", expect.file), `the error names the file\n${dump(r)}`);
  if (expect.line !== undefined) assert.equal(error.line, expect.line, `the line\n${dump(r)}`);
  for (const text of expect.mentions ?? []) {
    assert.ok(JSON.stringify(error).includes(text), `the error mentions ${text}\n${dump(r)}`);
  }
  const human = await run(["apply"], { cwd: dir, env: { DATABASE_URL: url } });
  assert.equal(human.code, 5, dump(human));
  const where = join("migrations", expect.file) + (expect.line ? `:${expect.line}:` : "");
  assert.ok(human.stderr.includes(where), `stderr names ${where}\n${dump(human)}`);
  const [state] = await queryDb<{ ledger: string | null; good: string | null }>(
    url,
    `SELECT to_regclass('strata_ledger')::text AS ledger, to_regclass('good')::text AS good`,
  );
  assert.deepEqual(state, { ledger: null, good: null }, "nothing applied, no ledger created");
  console.log(`  ${human.stderr.split("\n")[0]}`);
  return error;
}

serverDirTest("reliability 8a (bad file): no -- up marker", async (dir, url) => {
  await writeGood(dir);
  const id = revId(1, "no_up");
  await writeMigration(
    join(dir, "migrations"),
    id,
    `-- message: forgot the marker\n-- parents: ${GOOD}\n-- CREATE TABLE t (id int);\n`,
  );
  await rejected(dir, url, { file: `${id}.sql`, line: 3, mentions: ["-- up"] });
});

serverDirTest("reliability 8b (bad file): two -- up markers", async (dir, url) => {
  await writeGood(dir);
  const id = revId(1, "two_ups");
  await writeMigration(
    join(dir, "migrations"),
    id,
    `-- parents: ${GOOD}\n-- up\nSELECT 1;\n-- UP\nSELECT 2;\n`,
  );
  await rejected(dir, url, { file: `${id}.sql`, line: 4 });
});

serverDirTest("reliability 8c (bad file): unknown parent", async (dir, url) => {
  await writeGood(dir);
  const id = revId(1, "orphan");
  await writeMigration(
    join(dir, "migrations"),
    id,
    revisionText("SELECT 1;", "SELECT 1;", { parents: "20230101_0000_nowhere" }),
  );
  await rejected(dir, url, { file: `${id}.sql`, line: 2, mentions: ["20230101_0000_nowhere"] });
});

serverDirTest("reliability 8d (bad file): a cycle of parents", async (dir, url) => {
  await writeGood(dir);
  const a = revId(1, "cycle_a");
  const b = revId(2, "cycle_b");
  const migrations = join(dir, "migrations");
  await writeMigration(migrations, a, revisionText("SELECT 1;", "SELECT 1;", { parents: b }));
  await writeMigration(migrations, b, revisionText("SELECT 2;", "SELECT 2;", { parents: a }));
  const error = await rejected(dir, url, { file: `${a}.sql`, line: 2, mentions: [a, b] });
  assert.match(error.message, /cycle/i);
});

serverDirTest(
  "reliability 8e (bad file): the same id in two category folders",
  async (dir, url) => {
    await writeGood(dir);
    const id = revId(1, "twice");
    const text = revisionText("SELECT 1;", "SELECT 1;", { parents: GOOD });
    await writeMigration(join(dir, "migrations", "01_foundation"), id, text);
    await writeMigration(join(dir, "migrations", "02_core_features"), id, text);
    await rejected(dir, url, {
      file: join("02_core_features", `${id}.sql`),
      mentions: [join("01_foundation", `${id}.sql`)],
    });
  },
);

serverDirTest(
  "reliability 8f (bad file): a parents line with an ambiguous prefix; an ambiguous target",
  async (dir, url) => {
    await writeGood(dir);
    const migrations = join(dir, "migrations");
    const alpha = revId(1, "alpha");
    const beta = revId(1, "beta");
    await writeMigration(migrations, alpha, revisionText("SELECT 1;", "", { parents: GOOD }));
    await writeMigration(migrations, beta, revisionText("SELECT 2;", "", { parents: GOOD }));
    const child = revId(2, "child");
    await writeMigration(
      migrations,
      child,
      revisionText("SELECT 3;", "", { parents: "20240101_0001" }),
    );
    await rejected(dir, url, { file: `${child}.sql`, line: 2, mentions: ["20240101_0001"] });

    // On the command line an ambiguous prefix is a usage error naming the candidates.
    await Deno.remove(join(migrations, `${child}.sql`));
    const r = await run(["upgrade", "20240101_0001", "--json"], {
      cwd: dir,
      env: { DATABASE_URL: url },
    });
    assert.equal(r.code, 2, dump(r));
    const error = parseJson(r, "upgrade").error;
    assert.match(error.message, /ambiguous/i);
    assert.ok(error.hint.includes(alpha) && error.hint.includes(beta), dump(r));
    const [{ good }] = await queryDb(url, `SELECT to_regclass('good')::text AS good`);
    assert.equal(good, null, "nothing applied");
  },
);

serverDirTest("reliability 8g (bad file): bytes that are not UTF-8", async (dir, url) => {
  await writeGood(dir);
  const id = revId(1, "latin1");
  const bytes = new Uint8Array([
    ...new TextEncoder().encode(`-- parents: ${GOOD}\n-- up\nSELECT 'caf`),
    0xe9,
    ...new TextEncoder().encode(`';\n-- down\nSELECT 1;\n`),
  ]);
  await Deno.writeFile(join(dir, "migrations", `${id}.sql`), bytes);
  await rejected(dir, url, { file: `${id}.sql`, line: 3, mentions: ["UTF-8"] });
});

serverDirTest("reliability 8h (bad file): a 0-byte file", async (dir, url) => {
  await writeGood(dir);
  const id = revId(1, "empty");
  await Deno.writeFile(join(dir, "migrations", `${id}.sql`), new Uint8Array());
  await rejected(dir, url, { file: `${id}.sql`, line: 1 });
});

serverDirTest("reliability 8i (bad file): a directory named like a migration", async (dir, url) => {
  await writeGood(dir);
  const id = revId(1, "folder");
  await Deno.mkdir(join(dir, "migrations", `${id}.sql`), { recursive: true });
  await rejected(dir, url, { file: `${id}.sql`, mentions: ["directory"] });
});

serverDirTest(
  "reliability 8j (bad file): an unreadable file (a dangling symlink; root reads through chmod 000)",
  async (dir, url) => {
    await writeGood(dir);
    const id = revId(1, "dangling");
    await Deno.symlink(join(dir, "nowhere.sql"), join(dir, "migrations", `${id}.sql`));
    await rejected(dir, url, { file: `${id}.sql` });
  },
);

serverDirTest(
  "reliability 8k (big file): a 50 MB migration is handled or refused clearly, with bounded memory",
  async (dir, url) => {
    await writeGood(dir);
    const id = revId(1, "fifty_mb");
    const pad = "-- " + "padding ".repeat(12) + "\n"; // 100 bytes
    const lines = Math.ceil((50 * 1024 * 1024) / pad.length);
    const head = `-- parents: ${GOOD}\n-- up\nCREATE TABLE big_file (id int, note text);\n`;
    const tail = "INSERT INTO big_file SELECT g, 'row ' || g FROM generate_series(1, 1000) g;\n" +
      "-- down\nDROP TABLE big_file;\n";
    const path = join(dir, "migrations", `${id}.sql`);
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    const encoder = new TextEncoder();
    await file.write(encoder.encode(head));
    const block = encoder.encode(pad.repeat(10_000));
    for (let i = 0; i < lines; i += 10_000) await file.write(block);
    await file.write(encoder.encode(tail));
    file.close();
    const size = (await Deno.stat(path)).size;
    assert.ok(size >= 50 * 1024 * 1024, `the file has ${size} bytes`);

    const env = { DATABASE_URL: url };
    const report: string[] = [];
    const check = (r: Measured, what: string) => {
      assertNoCrash(r, what);
      assert.ok(r.signal === null, `${what} was killed (${r.signal})\n${dump(r)}`);
      assert.ok([0, 5].includes(r.code), `${what}: handled (0) or refused (5)\n${dump(r)}`);
      if (r.code === 5) {
        const error = parseJson(r, what).error;
        assert.equal(error.file, join("migrations", `${id}.sql`), dump(r));
      }
      // Bounded: a few times the file, not a multiple of its lines.
      assert.ok(r.peakKb < 1024 * 1024, `${what}: peak RSS ${mib(r.peakKb)}`);
      report.push(`${what}: exit ${r.code} in ${r.ms} ms, peak RSS ${mib(r.peakKb)}`);
    };
    const status = await run(["status", "--json"], { cwd: dir, env, measure: true });
    check(status, "status");
    const apply = await run(["apply", "--json"], { cwd: dir, env, measure: true });
    check(apply, "apply");
    if (apply.code === 0) {
      const steps = parseJson(apply, "apply").steps.map((s: Json) => s.revision);
      assert.deepEqual(steps, [GOOD, id]);
      const [{ n }] = await queryDb<{ n: number }>(url, "SELECT count(*)::int AS n FROM big_file");
      assert.equal(n, 1000);
      const again = await run(["apply", "--json"], { cwd: dir, env, measure: true });
      check(again, "apply again (nothing to do, checksum of 50 MB)");
      assert.deepEqual(parseJson(again, "apply again").steps, []);
    } else {
      const [{ ledger }] = await queryDb(
        url,
        `SELECT to_regclass('strata_ledger')::text AS ledger`,
      );
      assert.equal(ledger, null, "refused before any change");
    }
    console.log(`  ${(size / 1024 / 1024).toFixed(1)} MiB file: ${report.join("; ")}`);
  },
);

/**
 * Reliability scenario 11: 10,000 revisions on disk, in four category
 * folders. `status` and `apply` of the last revision stay correct; their
 * time and peak memory are printed (reported, not asserted as timings).
 * 9,999 revisions are recorded with `stamp` (which runs nothing), so the
 * apply that follows is the 10,000th revision on top of a 9,999-row ledger.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  expectCode,
  type Json,
  type Measured,
  mib,
  parseJson,
  queryDb,
  run,
  serverDirTest,
} from "./support.ts";

const COUNT = 10_000;
const CATEGORIES = ["01_foundation", "02_core_features", "03_extensions", "04_optimizations"];

serverDirTest(
  "reliability 11 (scale): 10,000 revisions on disk: status, stamp, apply of the last one, status again",
  async (dir, url) => {
    const ids: string[] = [];
    const t0 = performance.now();
    for (let i = 1; i <= COUNT; i++) {
      const id = `20240101_0000_r${String(i).padStart(5, "0")}`;
      const folder = join(dir, "migrations", CATEGORIES[Math.floor((i - 1) / (COUNT / 4))]);
      if ((i - 1) % (COUNT / 4) === 0) Deno.mkdirSync(folder, { recursive: true });
      Deno.writeTextFileSync(
        join(folder, `${id}.sql`),
        `-- message: revision ${i}\n-- up\nCREATE TABLE s_${i} (id int);\n-- down\nDROP TABLE s_${i};\n`,
      );
      ids.push(id);
    }
    const written = Math.round(performance.now() - t0);
    const env = { DATABASE_URL: url };
    const lines: string[] = [`wrote ${COUNT} files in ${written} ms`];
    const timed = async (what: string, ...args: string[]): Promise<Json> => {
      const r: Measured = await run([...args, "--json"], { cwd: dir, env, measure: true });
      expectCode(r, 0, what);
      lines.push(`${what}: ${r.ms} ms, peak RSS ${mib(r.peakKb)}`);
      return parseJson(r, what);
    };

    let status = await timed("status (nothing applied)", "status");
    assert.equal(status.files, COUNT);
    assert.equal(status.pending.length, COUNT);
    assert.deepEqual(status.heads, [ids.at(-1)]);
    assert.deepEqual(
      status.categories,
      Object.fromEntries(CATEGORIES.map((name) => [name, COUNT / 4])),
    );

    const stamped = await timed(`stamp ${COUNT - 1} revisions`, "stamp", ids.at(-2)!);
    assert.equal(stamped.stamped.length, COUNT - 1);

    status = await timed(`status (${COUNT - 1} applied)`, "status");
    assert.equal(status.applied, COUNT - 1);
    assert.deepEqual(status.pending, [ids.at(-1)]);
    assert.deepEqual(status.current, [ids.at(-2)]);

    const applied = await timed("apply (the last revision)", "apply");
    assert.deepEqual(applied.steps.map((s: Json) => s.revision), [ids.at(-1)]);
    const [{ t }] = await queryDb(url, `SELECT to_regclass('s_${COUNT}')::text AS t`);
    assert.equal(t, `s_${COUNT}`, "the last revision ran");
    const [{ others }] = await queryDb<{ others: number }>(
      url,
      `SELECT count(*)::int AS others FROM pg_class WHERE relname ~ '^s_[0-9]+$'`,
    );
    assert.equal(others, 1, "only the last revision ran; the stamped ones did not");

    status = await timed(`status (${COUNT} applied)`, "status");
    assert.equal(status.applied, COUNT);
    assert.deepEqual(status.pending, []);
    assert.equal(status.upToDate, true);
    const again = await timed("apply (nothing to do)", "apply");
    assert.deepEqual(again.steps, []);
    const [{ n }] = await queryDb<{ n: number }>(
      url,
      "SELECT count(*)::int AS n FROM strata_ledger",
    );
    assert.equal(n, COUNT);
    console.log(lines.map((line) => `  ${line}`).join("\n"));
  },
);

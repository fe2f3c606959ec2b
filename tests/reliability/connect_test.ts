/**
 * Reliability scenario 6: the server cannot be used. A server that does not
 * answer, a closed port, an unknown host, a wrong password, a missing
 * database: one clear line (and a hint), exit 2, within the connect timeout,
 * and the password never shown.
 *
 * Wrong passwords need password authentication, and the shared server trusts
 * 127.0.0.1: those cases run on a private cluster (initdb on a free port,
 * SCRAM for every role but the superuser), so the shared server's
 * configuration is never touched.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import {
  clusterTest,
  dump,
  freePort,
  type Measured,
  parseJson,
  queryDb,
  revId,
  revisionText,
  run,
  scratchDir,
  SERVER_URL,
  serverTest,
  silentServer,
  writeMigration,
} from "./support.ts";

const PASSWORD = "Sup3r:s3cret@pw/%";
const ENCODED = encodeURIComponent(PASSWORD);

function url(host: string, port: number | string, database = "postgres", password = ENCODED) {
  return `postgres://postgres:${password}@${host}:${port}/${database}`;
}

/**
 * Run `apply` (human, then --json) against `database` and check: exit 2, a
 * CONNECT error, one "error:" line plus a hint, within `maxMs`, no password.
 */
/** A bound for a hang, never a timing assertion: a busy machine starts processes slowly. */
const HANG_MS = 60_000;

async function refused(
  database: string,
  what: string,
  expect: {
    reason: RegExp;
    maxMs: number;
    minMs?: number;
    secrets?: string[];
    env?: Record<string, string>;
  },
): Promise<Measured[]> {
  const dir = await scratchDir();
  try {
    await writeMigration(
      join(dir.path, "migrations"),
      revId(0, "never"),
      revisionText("CREATE TABLE never (id int);", "DROP TABLE never;"),
    );
    const secrets = expect.secrets ?? [PASSWORD, ENCODED];
    const results: Measured[] = [];
    for (const json of [false, true]) {
      const r = await run(
        ["apply", "--connect-timeout", "2s", ...(json ? ["--json"] : [])],
        { cwd: dir.path, env: { DATABASE_URL: database, ...expect.env }, limitMs: 90_000 },
      );
      const label = `${what}${json ? " --json" : ""}`;
      assert.equal(r.code, 2, `${label}: expected exit 2\n${dump(r)}`);
      assert.ok(r.ms < expect.maxMs, `${label}: took ${r.ms} ms (limit ${expect.maxMs} ms)`);
      if (expect.minMs) assert.ok(r.ms >= expect.minMs, `${label}: gave up after ${r.ms} ms`);
      const lines = r.stderr.split("\n").filter((line) => line.trim() !== "");
      assert.match(lines[0] ?? "", /^error: Cannot connect to /, `${label}\n${dump(r)}`);
      assert.match(lines[0], expect.reason, `${label}: the reason\n${dump(r)}`);
      assert.ok(
        lines.slice(1).every((line) => line.startsWith("  hint: ")),
        `${label}: one error line and a hint, nothing else\n${dump(r)}`,
      );
      assert.equal(lines.length, 2, `${label}: a hint follows the error line\n${dump(r)}`);
      if (json) assert.equal(parseJson(r, label).error.code, "CONNECT");
      for (const secret of secrets) {
        assert.ok(
          !(r.stdout + r.stderr).includes(secret),
          `${label}: shows a password\n${dump(r)}`,
        );
      }
      results.push(r);
    }
    console.log(
      `  ${what}: exit 2 in ${results.map((r) => r.ms).join(" / ")} ms: ${
        results[0].stderr.split("\n")[0]
      }`,
    );
    return results;
  } finally {
    await dir.remove();
  }
}

serverTest(
  "reliability 6a (server does not answer): exit 2 within the 2 s connect timeout, one line, no password",
  async () => {
    const silent = await silentServer();
    try {
      await refused(url("127.0.0.1", silent.port), "a listener that never answers", {
        reason: /no answer within 2s/,
        minMs: 1900,
        maxMs: HANG_MS,
      });
    } finally {
      await silent.close();
    }
    // An address nothing routes to (TEST-NET-1): refused or timed out, but within the bound.
    await refused(url("192.0.2.1", 5432), "an unroutable address (192.0.2.1)", {
      reason: /.+/,
      maxMs: HANG_MS,
    });
  },
);

serverTest(
  "reliability 6b (wrong port): a closed port is refused at once, exit 2, one line, no password",
  async () => {
    await refused(url("127.0.0.1", await freePort()), "a closed port", {
      reason: /connection refused/,
      maxMs: HANG_MS,
    });
  },
);

serverTest(
  "reliability 6c (unknown host): exit 2 within the connect timeout, one line, no password",
  async () => {
    await refused(url("strata-no-such-host.invalid", 5432), "an unknown host", {
      reason: /unknown host|no answer within 2s/,
      maxMs: HANG_MS,
    });
  },
);

clusterTest(
  "reliability 6d (wrong password): exit 2, one line, neither the wrong nor the right password shown",
  async (cluster) => {
    const right = "R1ght:pass@word";
    const admin = postgres(cluster.adminUrl(), { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`CREATE ROLE strata_pw LOGIN PASSWORD '${right}'`);
    } finally {
      await admin.end();
    }
    const wrong = "Wr0ng:pass@word/%";
    const target = `postgres://strata_pw:${
      encodeURIComponent(wrong)
    }@127.0.0.1:${cluster.port}/postgres`;
    await refused(target, "a wrong password", {
      reason: /password authentication failed/,
      maxMs: HANG_MS,
      secrets: [wrong, encodeURIComponent(wrong), right, encodeURIComponent(right)],
    });
    // No password at all where the server asks for one: said as such (no PGPASSWORD in the
    // runs' environment, and PGPASSFILE names a file that is not there).
    await refused(`postgres://strata_pw@127.0.0.1:${cluster.port}/postgres`, "no password", {
      reason: /no password given \(URL, PGPASSWORD or ~\/\.pgpass\)/,
      maxMs: HANG_MS,
      secrets: [right, encodeURIComponent(right)],
      env: { PGPASSFILE: "/nonexistent/strata-no-pgpass" },
    });
    // The right password works: the failure above was the password, nothing else.
    const ok = await queryDb(
      `postgres://strata_pw:${encodeURIComponent(right)}@127.0.0.1:${cluster.port}/postgres`,
      "SELECT 1 AS one",
    );
    assert.deepEqual(ok, [{ one: 1 }]);
  },
);

serverTest(
  "reliability 6e (database missing): exit 2, one line with a hint to create it, no password",
  async () => {
    const server = new URL(SERVER_URL);
    const missing = `strata_missing_${crypto.randomUUID().slice(0, 8)}`;
    const [r] = await refused(
      url(server.hostname, server.port || 5432, missing),
      "a missing database",
      { reason: new RegExp(`database "${missing}" does not exist`), maxMs: 6000 },
    );
    assert.ok(r.stderr.includes(`hint: Create it first: createdb ${missing} `), dump(r));
  },
);

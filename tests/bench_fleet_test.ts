// The bench's W6 builders: the shell loops must run the very command given for
// each database, and the report's verdicts must follow the numbers. The bench
// itself (timings) is never run by the tests.
import assert from "node:assert/strict";
import {
  DBMATE_LOOP,
  FLEET,
  type FleetRow,
  fleetTargets,
  shellLoop,
  shellParallel,
  targetsFile,
} from "../bench/fleet.ts";
import type { Target } from "../bench/tools.ts";

const ADMIN = "postgres://postgres@127.0.0.1:5432/postgres";
// An argument with a quote, a space and a $ that the shell must leave alone.
const echo = (t: Target) => ["printf", "%s|%s\\n", "it's a $HOME", `${t.url}?sslmode=disable`];

async function bash(cmd: string[]): Promise<{ code: number; lines: string[] }> {
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  return { code: out.code, lines: text.split("\n").filter(Boolean) };
}

Deno.test("shellLoop runs the command once per database, in order, URL substituted", async () => {
  const { code, lines } = await bash(shellLoop(["db_1", "db_2", "db_3"], echo, ADMIN));
  assert.deepEqual(code, 0);
  assert.deepEqual(
    lines,
    [1, 2, 3].map((n) => `it's a $HOME|postgres://postgres@127.0.0.1:5432/db_${n}?sslmode=disable`),
  );
});

Deno.test("shellLoop stops at the first failing command", async () => {
  const failing = (t: Target) => ["bash", "-c", `echo "$0"; [[ "$0" != *db_2 ]]`, t.url];
  const { code, lines } = await bash(shellLoop(["db_1", "db_2", "db_3"], failing, ADMIN));
  assert.deepEqual(code, 1);
  assert.deepEqual(lines.length, 2);
  assert.match(lines[1], /\/db_2$/);
});

Deno.test("shellParallel runs the command once per database", async () => {
  const names = Array.from({ length: 7 }, (_, i) => `db_${i + 1}`);
  const { code, lines } = await bash(shellParallel(names, echo, ADMIN, 3));
  assert.deepEqual(code, 0);
  assert.deepEqual(
    lines.sort(),
    names.map((n) => `it's a $HOME|postgres://postgres@127.0.0.1:5432/${n}?sslmode=disable`)
      .sort(),
  );
});

Deno.test("targetsFile writes NAME URL lines", () => {
  const t = (name: string): Target => ({ engine: "server", url: `${ADMIN.slice(0, -8)}${name}` });
  assert.deepEqual(
    targetsFile([t("a_1"), t("a_2")]),
    "a_1 postgres://postgres@127.0.0.1:5432/a_1\na_2 postgres://postgres@127.0.0.1:5432/a_2\n",
  );
});

function row(name: string, targets: number, ms: number[], rssMiB: number): FleetRow {
  return {
    name,
    targets,
    samples: ms.map((m) => ({ ms: m, rssKiB: rssMiB * 1024, cpuMs: 100, connections: 4 })),
  };
}

Deno.test("fleetTargets: met, not met and not measured follow the numbers", () => {
  const met = fleetTargets([
    row(FLEET, 10, [900, 1000, 1100], 70),
    row(DBMATE_LOOP, 10, [2000], 20),
    row(FLEET, 100, [5000, 6000, 7000], 80),
    row(DBMATE_LOOP, 100, [9000, 10000, 11000], 20),
  ]);
  assert.match(met[0], /at 100 targets: strata fleet 6\.000 s, dbmate loop 10\.000 s.*\*\*met\*\*/);
  assert.match(met[1], /70 MiB at 10, 80 MiB at 100 \(1\.14×.*\*\*met\*\*/);

  const missed = fleetTargets([
    row(FLEET, 10, [1000], 60),
    row(FLEET, 100, [12000], 90),
    row(DBMATE_LOOP, 100, [10000], 20),
  ]);
  assert.match(missed[0], /\(1\.20×\): \*\*not met\*\*/);
  assert.match(missed[1], /\(1\.50×.*\*\*not met\*\*/);

  const absent = fleetTargets([
    { name: FLEET, targets: 10, samples: [], missing: "no fleet here" },
    row(DBMATE_LOOP, 10, [2000], 20),
  ]);
  assert.ok(absent.every((line) => line.includes("**not measured**")), absent.join("\n"));
  assert.match(absent[0], /no fleet here/);
});

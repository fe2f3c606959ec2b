/**
 * Peak memory of the embedded engine's commands on a generated history:
 * apply on a new `pglite:` folder, status on that folder, apply on
 * `pglite:memory`, verify, drift and clean (its proof, with --dry-run). Each
 * command runs in its own process under `/usr/bin/time -v`, whose "Maximum
 * resident set size" is the figure reported.
 *
 *   deno run -A bench/memory.ts [--revisions 200]
 *     [--only apply,status,memory,verify,drift,clean]
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/**
 * Revision `i` of a history that looks like an application's: tables with
 * keys and foreign keys, added columns with indexes, views, PL/pgSQL
 * functions with triggers, enums and some rows, each with a down.
 */
export function generatedRevision(i: number): { up: string; down: string } {
  const t = (n: number) => `t${String(n).padStart(4, "0")}`;
  const base = i - (i % 6); // the table this group of revisions works on
  switch (i % 6) {
    case 0:
      return {
        up: `CREATE TABLE ${t(i)} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  note text,
  created_at timestamptz NOT NULL DEFAULT now()${
          i >= 6 ? `,\n  parent_id bigint REFERENCES ${t(i - 6)} (id)` : ""
        }
);
CREATE INDEX ${t(i)}_name_idx ON ${t(i)} (name);
COMMENT ON TABLE ${t(i)} IS 'table ${i}';`,
        down: `DROP TABLE ${t(i)};`,
      };
    case 1:
      return {
        up: `ALTER TABLE ${t(base)} ADD COLUMN score integer NOT NULL DEFAULT 0 CHECK (score >= 0);
CREATE INDEX ${t(base)}_score_idx ON ${t(base)} (score) WHERE score > 0;`,
        down: `DROP INDEX ${t(base)}_score_idx;
ALTER TABLE ${t(base)} DROP COLUMN score;`,
      };
    case 2:
      return {
        up: `CREATE VIEW ${t(base)}_top AS
  SELECT id, name, score FROM ${t(base)} WHERE score > 10 ORDER BY score DESC;`,
        down: `DROP VIEW ${t(base)}_top;`,
      };
    case 3:
      return {
        up: `CREATE FUNCTION ${t(base)}_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.note := coalesce(NEW.note, '') || '.';
  RETURN NEW;
END
$$;
CREATE TRIGGER ${t(base)}_touch BEFORE UPDATE ON ${t(base)}
  FOR EACH ROW EXECUTE FUNCTION ${t(base)}_touch();`,
        down: `DROP TRIGGER ${t(base)}_touch ON ${t(base)};
DROP FUNCTION ${t(base)}_touch();`,
      };
    case 4:
      return {
        up: `CREATE TYPE ${t(base)}_state AS ENUM ('new', 'open', 'closed');
ALTER TABLE ${t(base)} ADD COLUMN state ${t(base)}_state NOT NULL DEFAULT 'new';`,
        down: `ALTER TABLE ${t(base)} DROP COLUMN state;
DROP TYPE ${t(base)}_state;`,
      };
    default:
      return {
        up: `INSERT INTO ${t(base)} (name, note, score)
  SELECT 'row ' || n, repeat('x', 40), n % 50 FROM generate_series(1, 500) AS n;`,
        down: `DELETE FROM ${t(base)};`,
      };
  }
}

/** Write `count` revisions into `dir` (a straight line, ids in order). */
export async function writeHistory(dir: string, count: number): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const { up, down } = generatedRevision(i);
    const id = `20240101_0000_r${String(i).padStart(4, "0")}`;
    await Deno.writeTextFile(
      join(dir, `${id}.sql`),
      `-- message: revision ${i}\n-- up\n${up}\n-- down\n${down}\n`,
    );
  }
}

interface Measured {
  command: string;
  code: number;
  peakMiB: number;
  seconds: number;
}

/** Run the CLI under /usr/bin/time -v; peak RSS from its report. */
async function measure(label: string, args: string[], cwd: string): Promise<Measured> {
  const started = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-v", Deno.execPath(), "run", "-A", "--quiet", MAIN, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const stderr = new TextDecoder().decode(out.stderr);
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  if (!kb) throw new Error(`no /usr/bin/time report for ${label}:\n${stderr}`);
  if (out.code !== 0) {
    console.error(`${label} exited ${out.code}:\n${new TextDecoder().decode(out.stdout)}`);
    console.error(stderr);
  }
  return { command: label, code: out.code, peakMiB: Math.round(Number(kb[1]) / 1024), seconds };
}

if (import.meta.main) {
  const argv = [...Deno.args];
  const option = (name: string, fallback: string) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : fallback;
  };
  const count = Number(option("--revisions", "200"));
  const only = new Set(
    option("--only", "apply,status,memory,verify,drift,clean").split(","),
  );
  const work = await Deno.makeTempDir({ prefix: "strata-memory-" });
  try {
    const dir = join(work, "migrations");
    await writeHistory(dir, count);
    const db = `pglite:${join(work, "db")}`;
    const common = ["--dir", dir];
    const results: Measured[] = [];
    const run = async (label: string, args: string[]) => {
      const m = await measure(label, [...args, ...common], work);
      results.push(m);
      console.log(`${label}: ${m.peakMiB} MiB peak, ${m.seconds.toFixed(1)} s, exit ${m.code}`);
    };
    if (["apply", "status", "drift"].some((c) => only.has(c))) {
      await run("apply", ["apply", "--database", db]);
    }
    if (only.has("status")) await run("status", ["status", "--database", db]);
    if (only.has("memory")) await run("apply memory", ["apply", "--database", "pglite:memory"]);
    if (only.has("verify")) await run("verify", ["verify"]);
    if (only.has("drift")) await run("drift", ["drift", "--database", db]);
    if (only.has("clean")) await run("clean", ["clean", "10", "--dry-run"]);
    console.log(`\n| command (${count} revisions) | peak RSS | time |\n| --- | --- | --- |`);
    for (const m of results) {
      console.log(`| ${m.command} | ${m.peakMiB} MiB | ${m.seconds.toFixed(1)} s |`);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

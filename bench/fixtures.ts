/**
 * The migrations the workloads run, described once, tool-neutrally: a list of
 * revisions, each a list of single-line statements up and down. Every tool's
 * setup turns a fixture into its own files, so all tools run the same SQL.
 */

export interface Revision {
  /** A strata-style id (YYYYMMDD_HHMM_slug); other tools may derive their names from it. */
  id: string;
  /** Statements without the trailing semicolon, each on one line. */
  up: string[];
  down: string[];
}

export interface Fixture {
  /** Names the folder the tools write it to: one folder per fixture and tool. */
  name: string;
  revisions: Revision[];
  /** How many `bench_%` tables exist once every revision is applied (checked after runs). */
  tables: number;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** No revisions at all: what the engine start-up rows run against. */
export const EMPTY: Fixture = { name: "empty", revisions: [], tables: 0 };

/**
 * `count` small revisions, each a table with 5 columns, an index on one of
 * them and 3 inserts: the shape of a typical schema change, cheap for the
 * server, so the runner's own per-revision cost is what shows.
 */
export function smallRevisions(count: number): Fixture {
  const revisions: Revision[] = [];
  for (let i = 1; i <= count; i++) {
    const table = `bench_t${pad(i, 5)}`;
    const up = [
      `CREATE TABLE ${table} (id bigint PRIMARY KEY, name text NOT NULL, ` +
      `qty integer NOT NULL DEFAULT 0, price numeric(10,2), ` +
      `created_at timestamptz NOT NULL DEFAULT now())`,
      `CREATE INDEX ${table}_name_idx ON ${table} (name)`,
    ];
    for (let row = 1; row <= 3; row++) {
      up.push(
        `INSERT INTO ${table} (id, name, qty, price) VALUES (${row}, 'item ${row}', ${row}, ${row}.50)`,
      );
    }
    revisions.push({
      // Zero-padded slugs keep id order equal to creation order.
      id: `20240101_0000_r${pad(i, 5)}`,
      up,
      down: [`DROP TABLE ${table}`],
    });
  }
  return { name: `small_${count}`, revisions, tables: count };
}

/** One revision: a table and `inserts` one-row inserts into it (W3). */
export function bigRevision(inserts: number): Fixture {
  const up = ["CREATE TABLE bench_big (id integer PRIMARY KEY, name text NOT NULL)"];
  for (let i = 1; i <= inserts; i++) {
    up.push(`INSERT INTO bench_big (id, name) VALUES (${i}, 'row ${i}')`);
  }
  return {
    name: `big_${inserts}`,
    revisions: [{ id: "20240101_0000_big", up, down: ["DROP TABLE bench_big"] }],
    tables: 1,
  };
}

/**
 * One revision of about `megabytes` MB (W3's memory row): a table and
 * multi-row inserts of 100 rows of 1 kB text each, so one statement is about
 * 100 kB. What it shows is whether a tool holds a big file (and the query it
 * sends) once or several times over.
 */
export function bulkRevision(megabytes: number): Fixture {
  const up = ["CREATE TABLE bench_bulk (id integer PRIMARY KEY, body text NOT NULL)"];
  const goal = megabytes * 1024 * 1024;
  let size = 0;
  let id = 0;
  while (size < goal) {
    const rows: string[] = [];
    for (let r = 0; r < 100; r++) {
      id++;
      // No quote, colon or percent sign: every tool's format takes it as is.
      rows.push(`(${id}, '${`row ${id} `.repeat(100).slice(0, 1000)}')`);
    }
    const statement = `INSERT INTO bench_bulk (id, body) VALUES ${rows.join(", ")}`;
    up.push(statement);
    size += statement.length + 2;
  }
  return {
    name: `bulk_${megabytes}mb`,
    revisions: [{ id: "20240101_0000_bulk", up, down: ["DROP TABLE bench_bulk"] }],
    tables: 1,
  };
}

/**
 * The extensions the embedded engine can load. PGlite ships each contrib
 * extension as a separate bundle (a tarball of the `.so` and the SQL
 * scripts); strata starts PGlite without any and unpacks a bundle into the
 * running instance's file system when SQL is about to ask for it, or when an
 * opened folder already has it installed. Loading them all up front would slow
 * every open, and an extension nobody uses costs nothing this way.
 *
 * The specifiers are static strings, so `deno compile` embeds every bundle.
 */
import { StrataError } from "../errors.ts";
import { readTar } from "./tar.ts";

/** What a PGlite extension module exports: its bundle comes from `setup`. */
interface PgliteExtension {
  name: string;
  setup: (pg: never, emscriptenOpts: unknown) => Promise<{ bundlePath?: URL }>;
}

type Loader = () => Promise<PgliteExtension>;

// moddatetime's module carries the whole contrib/spi bundle: autoinc,
// insert_username, moddatetime and refint.
const spi: Loader = () =>
  import("@electric-sql/pglite/contrib/moddatetime").then((m) => m.moddatetime);

/** Extension name (as `CREATE EXTENSION` names it) to the module holding its bundle. */
const BUNDLES: Record<string, Loader> = {
  amcheck: () => import("@electric-sql/pglite/contrib/amcheck").then((m) => m.amcheck),
  autoinc: spi,
  bloom: () => import("@electric-sql/pglite/contrib/bloom").then((m) => m.bloom),
  btree_gin: () => import("@electric-sql/pglite/contrib/btree_gin").then((m) => m.btree_gin),
  btree_gist: () => import("@electric-sql/pglite/contrib/btree_gist").then((m) => m.btree_gist),
  citext: () => import("@electric-sql/pglite/contrib/citext").then((m) => m.citext),
  cube: () => import("@electric-sql/pglite/contrib/cube").then((m) => m.cube),
  dict_int: () => import("@electric-sql/pglite/contrib/dict_int").then((m) => m.dict_int),
  dict_xsyn: () => import("@electric-sql/pglite/contrib/dict_xsyn").then((m) => m.dict_xsyn),
  earthdistance: () =>
    import("@electric-sql/pglite/contrib/earthdistance").then((m) => m.earthdistance),
  file_fdw: () => import("@electric-sql/pglite/contrib/file_fdw").then((m) => m.file_fdw),
  fuzzystrmatch: () =>
    import("@electric-sql/pglite/contrib/fuzzystrmatch").then((m) => m.fuzzystrmatch),
  hstore: () => import("@electric-sql/pglite/contrib/hstore").then((m) => m.hstore),
  insert_username: spi,
  intarray: () => import("@electric-sql/pglite/contrib/intarray").then((m) => m.intarray),
  isn: () => import("@electric-sql/pglite/contrib/isn").then((m) => m.isn),
  lo: () => import("@electric-sql/pglite/contrib/lo").then((m) => m.lo),
  ltree: () => import("@electric-sql/pglite/contrib/ltree").then((m) => m.ltree),
  moddatetime: spi,
  pageinspect: () => import("@electric-sql/pglite/contrib/pageinspect").then((m) => m.pageinspect),
  pg_buffercache: () =>
    import("@electric-sql/pglite/contrib/pg_buffercache").then((m) => m.pg_buffercache),
  pg_freespacemap: () =>
    import("@electric-sql/pglite/contrib/pg_freespacemap").then((m) => m.pg_freespacemap),
  pg_stat_statements: () =>
    import("@electric-sql/pglite/contrib/pg_stat_statements").then((m) => m.pg_stat_statements),
  pg_surgery: () => import("@electric-sql/pglite/contrib/pg_surgery").then((m) => m.pg_surgery),
  pg_trgm: () => import("@electric-sql/pglite/contrib/pg_trgm").then((m) => m.pg_trgm),
  pg_visibility: () =>
    import("@electric-sql/pglite/contrib/pg_visibility").then((m) => m.pg_visibility),
  pg_walinspect: () =>
    import("@electric-sql/pglite/contrib/pg_walinspect").then((m) => m.pg_walinspect),
  pgcrypto: () => import("@electric-sql/pglite/contrib/pgcrypto").then((m) => m.pgcrypto),
  refint: spi,
  seg: () => import("@electric-sql/pglite/contrib/seg").then((m) => m.seg),
  tablefunc: () => import("@electric-sql/pglite/contrib/tablefunc").then((m) => m.tablefunc),
  tcn: () => import("@electric-sql/pglite/contrib/tcn").then((m) => m.tcn),
  tsm_system_rows: () =>
    import("@electric-sql/pglite/contrib/tsm_system_rows").then((m) => m.tsm_system_rows),
  tsm_system_time: () =>
    import("@electric-sql/pglite/contrib/tsm_system_time").then((m) => m.tsm_system_time),
  unaccent: () => import("@electric-sql/pglite/contrib/unaccent").then((m) => m.unaccent),
  "uuid-ossp": () => import("@electric-sql/pglite/contrib/uuid_ossp").then((m) => m.uuid_ossp),
  vector: () => import("@electric-sql/pglite-pgvector").then((m) => m.vector),
};

/** What `CREATE EXTENSION … CASCADE` would also create (from the control files). */
const REQUIRES: Record<string, string[]> = { earthdistance: ["cube"] };

/** Every extension `CREATE EXTENSION` can create on the embedded engine, besides plpgsql. */
export const EMBEDDED_EXTENSIONS: readonly string[] = Object.keys(BUNDLES).sort();

export function isEmbeddedExtension(name: string): boolean {
  return name === "plpgsql" || Object.hasOwn(BUNDLES, name);
}

/** A `CREATE EXTENSION` in SQL text. */
export interface ExtensionMention {
  name: string;
  /** Index of `CREATE` in the text. */
  offset: number;
  /** Inside a dollar-quoted body (a function or DO block), so maybe never run. */
  inBody: boolean;
}

const MAYBE_CREATE_EXTENSION_REGEXP = /create\s+extension/i;
const CREATE_EXTENSION_REGEXP =
  /create\s+extension\s+(?:if\s+not\s+exists\s+)?("(?:[^"]|"")+"|[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*)/iy;
const DOLLAR_TAG_REGEXP = /\$([A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/y;
const WORD_CHAR_REGEXP = /[\w$\u0080-\uffff]/;

function skipQuoted(sql: string, i: number, quote: string, backslashes: boolean): number {
  for (let j = i + 1; j < sql.length; j++) {
    if (backslashes && sql[j] === "\\") j++;
    else if (sql[j] === quote) {
      if (sql[j + 1] !== quote) return j + 1;
      j++;
    }
  }
  return sql.length;
}

function skipBlockComment(sql: string, i: number): number {
  let depth = 0;
  do {
    if (sql.startsWith("/*", i)) (depth++, i += 2);
    else if (sql.startsWith("*/", i)) (depth--, i += 2);
    else i++;
  } while (depth > 0 && i < sql.length);
  return i;
}

/**
 * Every `CREATE EXTENSION` in `sql` outside comments and string literals, with
 * its name as PostgreSQL reads it (unquoted names folded to lower case).
 */
export function extensionMentions(sql: string): ExtensionMention[] {
  const found: ExtensionMention[] = [];
  if (!MAYBE_CREATE_EXTENSION_REGEXP.test(sql)) return found;
  let body: string | null = null;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const wordBefore = i > 0 && WORD_CHAR_REGEXP.test(sql[i - 1]);
    if (c === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      i = skipBlockComment(sql, i);
    } else if (c === "'") {
      i = skipQuoted(
        sql,
        i,
        "'",
        i > 0 && /[eE]/.test(sql[i - 1]) && !(i > 1 && WORD_CHAR_REGEXP.test(sql[i - 2])),
      );
    } else if (c === '"') {
      i = skipQuoted(sql, i, '"', false);
    } else if (c === "$" && !wordBefore) {
      DOLLAR_TAG_REGEXP.lastIndex = i;
      const tag = DOLLAR_TAG_REGEXP.exec(sql);
      if (!tag) i++;
      else {
        if (body === null) body = tag[0];
        else if (body === tag[0]) body = null;
        i += tag[0].length;
      }
    } else if ((c === "c" || c === "C") && !wordBefore) {
      CREATE_EXTENSION_REGEXP.lastIndex = i;
      const m = CREATE_EXTENSION_REGEXP.exec(sql);
      if (m) {
        const raw = m[1];
        const name = raw.startsWith('"')
          ? raw.slice(1, -1).replaceAll('""', '"')
          : raw.toLowerCase();
        found.push({ name, offset: i, inBody: body !== null });
        i += m[0].length;
      } else i++;
    } else i++;
  }
  return found;
}

/** SQL about to run, and where it sits, for error messages. */
export interface SqlSource {
  path: string;
  /** 1-based line in the file of the text's first line. */
  line: number;
  sql: string;
}

/**
 * Refuse, before anything runs, SQL that creates an extension the embedded
 * engine lacks: naming the file and line beats PostgreSQL's error halfway
 * through a history. Mentions inside function bodies are left to run: a DO
 * block may create the extension only where it is available.
 */
export function assertEmbeddedExtensions(sources: Iterable<SqlSource>): void {
  for (const source of sources) {
    for (const mention of extensionMentions(source.sql)) {
      if (mention.inBody || isEmbeddedExtension(mention.name)) continue;
      const line = source.line + countNewlines(source.sql, mention.offset);
      throw new StrataError(
        "EXTENSION_UNAVAILABLE",
        `Extension "${mention.name}" is not available on the embedded engine (PGlite)`,
        {
          file: source.path,
          line,
          hint: "Prove it on a PostgreSQL server that has the extension with --scratch " +
            "postgres://user@host/db (a scratch database is created there and dropped), or use " +
            `a postgres:// database. The embedded engine has: ${EMBEDDED_EXTENSIONS.join(", ")}`,
          details: { extension: mention.name, available: EMBEDDED_EXTENSIONS },
        },
      );
    }
  }
}

function countNewlines(text: string, end: number): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < end; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** The part of a PGlite instance the loader needs (its Emscripten module). */
export interface PgliteModuleHost {
  readonly Module: {
    WASM_PREFIX: string;
    FS: {
      analyzePath(path: string): { exists: boolean };
      mkdirTree(path: string): void;
      writeFile(path: string, data: Uint8Array): void;
    };
  };
}

const loaded = new WeakMap<PgliteModuleHost, Set<Loader>>();

/**
 * Make `names` creatable (and, once installed, usable) on `db` by unpacking
 * their bundles where PGlite keeps its own: `share/postgresql/extension` and
 * `lib/postgresql` under its prefix. PostgreSQL opens the `.so` when a
 * function first needs it. Unknown names are skipped (PostgreSQL then says
 * the extension is not available); each bundle is unpacked once per instance.
 */
export async function loadExtensions(db: PgliteModuleHost, names: Iterable<string>): Promise<void> {
  const done = loaded.get(db) ?? new Set<Loader>();
  loaded.set(db, done);
  const wanted = new Set<string>();
  for (const name of names) for (const n of [name, ...(REQUIRES[name] ?? [])]) wanted.add(n);
  for (const name of wanted) {
    const loader = Object.hasOwn(BUNDLES, name) ? BUNDLES[name] : undefined;
    if (!loader || done.has(loader)) continue;
    const extension = await loader();
    const { bundlePath } = await extension.setup(undefined as never, {});
    if (!bundlePath) continue;
    unpack(db, await gunzip(bundlePath));
    done.add(loader);
  }
}

/** The extensions `sql` creates that the embedded engine has. */
export function extensionsCreatedBy(sql: string): string[] {
  return extensionMentions(sql).map((m) => m.name).filter((name) => Object.hasOwn(BUNDLES, name));
}

async function gunzip(url: URL): Promise<Uint8Array> {
  // node:fs reads the bundle where PGlite reads its own files, also inside a compiled binary.
  const [{ readFile }, { gunzipSync }] = await Promise.all([
    import("node:fs/promises"),
    import("node:zlib"),
  ]);
  return new Uint8Array(gunzipSync(await readFile(url)));
}

/** Write a bundle's files under the module's prefix. */
function unpack(db: PgliteModuleHost, tar: Uint8Array): void {
  const { FS, WASM_PREFIX } = db.Module;
  const ensureDir = (dir: string) => {
    if (!FS.analyzePath(dir).exists) FS.mkdirTree(dir);
  };
  for (const entry of readTar(tar)) {
    const path = `${WASM_PREFIX}/${entry.path}`;
    if (entry.dir) ensureDir(path);
    else {
      ensureDir(path.slice(0, path.lastIndexOf("/")));
      FS.writeFile(path, entry.data);
    }
  }
}

/**
 * The npm package (tools/build_npm.ts, `deno task npm`) as a Node user gets
 * it: built, packed by `npm pack`, installed into a new Node project by
 * `npm install` (the dependencies from the npm registry or npm's cache), then
 * run by `node` on the PATH. Its results must be the very documents mod.ts
 * returns under Deno for the same state, its errors the same codes and
 * messages, and a TypeScript consumer must type-check against the shipped
 * declarations.
 */
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { apply, status, StrataError, VERSION } from "../mod.ts";
import { rejection, serverTest } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<Run> {
  const out = await new Deno.Command(cmd, { args, cwd, env, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

function ok(r: Run, what: string): string {
  assert.equal(
    r.code,
    0,
    `${what}: exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
  );
  return r.stdout;
}

/** What differs between two runs of the same work: timings. */
function untimed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(untimed);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).filter(([key]) => key !== "ms").map(([key, v]) => [key, untimed(v)]),
    );
  }
  return value;
}

/** The README's Node example. */
const NODE_EXAMPLE = join(ROOT, "examples/node_migrate.mjs");

const FIRST = "20260101_0900_users";
const SECOND = "20260101_0930_user_names";

/** The Node scripts the consumer project runs; each prints one JSON document. */
const SCRIPTS: Record<string, string> = {
  "apply.mjs": `import { apply } from "@strata/strata";
const [dir] = process.argv.slice(2);
console.log(JSON.stringify(await apply({ database: "pglite:memory", dir })));
`,
  "status.mjs": `import { EXIT_CODES, status, StrataError } from "@strata/strata";
const [dir, url, missing] = process.argv.slice(2);
const found = await status({ database: url, dir });
let error = null;
try {
  await status({ database: missing, dir });
} catch (e) {
  if (!(e instanceof StrataError)) throw e;
  error = { code: e.code, exit: EXIT_CODES[e.code], message: e.message, hint: e.hint };
}
console.log(JSON.stringify({ found, error }));
`,
  "lock.mjs": `import { apply, status, StrataError } from "@strata/strata";
const [dir, folder, mode] = process.argv.slice(2);
const database = "pglite:" + folder;
if (mode === "twice") {
  const results = await Promise.all([apply({ database, dir }), apply({ database, dir })]);
  console.log(JSON.stringify(results.map((result) => result.steps.length).sort()));
} else {
  try {
    console.log(JSON.stringify((await status({ database, dir, lockTimeout: "1s" })).current));
  } catch (e) {
    if (!(e instanceof StrataError)) throw e;
    console.log(JSON.stringify({ code: e.code, message: e.message }));
  }
}
`,
  // Its expected error fails the check when the types are missing or `any`.
  "consumer.ts":
    `import { apply, type ErrorCode, type MigrateResult, StrataError } from "@strata/strata";

const result: MigrateResult = await apply({ database: "pglite:memory", lockTimeout: "2m" });
const revisions: string[] = result.steps.map((step) => step.revision);
// @ts-expect-error: steps are objects, not revision ids
const wrong: string[] = result.steps;
const code: ErrorCode = new StrataError("CONNECT", "Cannot connect").code;
console.log(revisions, wrong, code);
`,
  "tsconfig.json": JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      module: "nodenext",
      moduleResolution: "nodenext",
      target: "es2022",
      lib: ["es2022", "dom"],
      types: [],
      skipLibCheck: false,
    },
    files: ["consumer.ts"],
  }),
};

interface Installed {
  /** The built package folder. */
  pkg: string;
  /** The Node project it is installed in. */
  project: string;
  /** Files `npm pack` put in the tarball. */
  packed: string[];
  /** The migrations folder, two revisions. */
  dir: string;
}

const WORK = join(tmpdir(), `strata-npm-${crypto.randomUUID().slice(0, 8)}`);
globalThis.addEventListener("unload", () => Deno.removeSync(WORK, { recursive: true }));

let installing: Promise<Installed> | undefined;

/** Build, pack and install once for the tests of this file. */
function installed(): Promise<Installed> {
  installing ??= (async () => {
    const pkg = join(WORK, "pkg");
    const project = join(WORK, "project");
    const dir = join(project, "migrations");
    await mkdir(dir, { recursive: true });
    ok(await run(Deno.execPath(), ["task", "npm", pkg], ROOT), "deno task npm");
    const [tarball] = JSON.parse(
      ok(await run("npm", ["pack", "--json", "--pack-destination", WORK, pkg], WORK), "npm pack"),
    );
    await writeFile(
      join(project, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    for (const [name, text] of Object.entries(SCRIPTS)) await writeFile(join(project, name), text);
    await writeFile(join(project, "migrate.mjs"), await readFile(NODE_EXAMPLE, "utf8"));
    await writeFile(
      join(dir, `${FIRST}.sql`),
      "-- message: users\n-- up\nCREATE TABLE users (id int PRIMARY KEY);\n-- down\nDROP TABLE users;\n",
    );
    await writeFile(
      join(dir, `${SECOND}.sql`),
      "-- message: user names\n-- up\nALTER TABLE users ADD COLUMN name text;\n" +
        "-- down\nALTER TABLE users DROP COLUMN name;\n",
    );
    const install = ["install", "--no-audit", "--no-fund", "--prefer-offline"];
    ok(await run("npm", [...install, join(WORK, tarball.filename)], project), "npm install");
    return { pkg, project, dir, packed: tarball.files.map((f: { path: string }) => f.path) };
  })();
  return installing;
}

/** The modules `file` imports statically, in the package, transitively (dynamic imports not). */
async function eagerImports(file: string, seen = new Set<string>()): Promise<Set<string>> {
  const text = await readFile(file, "utf8");
  for (const [, from] of text.matchAll(/^import\s(?:[^;]*?\sfrom\s*)?"([^"]+)"/gm)) {
    const target = from.startsWith(".") ? resolve(dirname(file), from) : from;
    if (seen.has(target)) continue;
    seen.add(target);
    if (from.startsWith(".")) await eagerImports(target, seen);
  }
  return seen;
}

Deno.test({
  name: "npm package: built, packed, installed and run on Node 20 and later",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const started = Date.now();
    const { pkg, project, dir, packed } = await installed();
    console.log(`build, pack and install: ${((Date.now() - started) / 1000).toFixed(1)}s`);

    await t.step("package.json: deno.json's name and pins, lib/version.ts's version", async () => {
      const config = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
      const manifest = JSON.parse(await readFile(join(pkg, "package.json"), "utf8"));
      assert.equal(manifest.name, config.name);
      assert.equal(manifest.version, VERSION);
      assert.equal(manifest.license, "MIT");
      assert.equal(manifest.type, "module");
      assert.equal(manifest.engines.node, ">=20");
      assert.deepEqual(manifest.exports["."], {
        types: "./types/mod.d.ts",
        import: "./esm/mod.js",
      });
      for (const [name, version] of Object.entries(manifest.dependencies)) {
        assert.equal(`npm:${name}@${version}`, config.imports[name], name);
      }
      assert.deepEqual(Object.keys(manifest.dependencies).sort(), [
        "@deno/shim-deno",
        "@electric-sql/pglite",
        "libpg-query",
        "postgres",
      ]);
      for (const file of ["LICENSE", "README.md", "package.json", "esm/mod.js", "types/mod.d.ts"]) {
        assert.ok(packed.includes(file), `${file} is not in the tarball: ${packed.join(", ")}`);
      }
      assert.match(await readFile(join(pkg, "LICENSE"), "utf8"), /Copyright \(c\) 2026 the strata/);
    });

    await t.step("importing the package loads no database client, parser or image", async () => {
      const eager = [...await eagerImports(join(pkg, "esm/mod.js"))];
      const heavy = eager.filter((m) => /pglite|libpg-query|^postgres$|pristine_image/.test(m));
      assert.deepEqual(heavy, [], `loaded on import: ${eager.join(", ")}`);
      // The walk sees imports: the Deno shim is one.
      assert.ok(eager.includes("@deno/shim-deno"), `loaded on import: ${eager.join(", ")}`);
      // They are there, behind dynamic imports.
      const chunks = await Array.fromAsync(Deno.readDir(join(pkg, "esm/chunks")));
      assert.ok(chunks.some((c) => c.name.startsWith("pristine_image-")), "no image chunk");
    });

    await t.step("apply on pglite:memory: the document mod.ts returns under Deno", async () => {
      const node = JSON.parse(ok(await run("node", ["apply.mjs", dir], project), "node apply.mjs"));
      assert.deepEqual(
        node.steps.map((s: { revision: string; direction: string }) => [s.revision, s.direction]),
        [[FIRST, "up"], [SECOND, "up"]],
      );
      const deno = await apply({ database: "pglite:memory", dir });
      assert.deepEqual(untimed(node), untimed(deno));
    });

    await t.step("a pglite: folder's lock on Node, which has no flock", async () => {
      const folder = join(WORK, "db");
      const node = async (mode: string) =>
        JSON.parse(
          ok(await run("node", ["lock.mjs", dir, folder, mode], project), "node lock.mjs"),
        );
      // Two calls of one process on one folder: one applies, the other waits, then finds nothing.
      assert.deepEqual(await node("twice"), [0, 2]);
      // A live process's pid in strata.lock (as a Deno strata holding it writes) holds the folder.
      const lockFile = join(folder, "strata.lock");
      await writeFile(lockFile, JSON.stringify({ pid: Deno.pid, since: "then" }) + "\n");
      const held = await node("status");
      assert.equal(held.code, "LOCK_TIMEOUT", JSON.stringify(held));
      assert.match(held.message, new RegExp(`held by pid ${Deno.pid}\\b`));
      // A dead one does not.
      const gone = new Deno.Command("node", { args: ["-e", ""] }).spawn();
      await gone.status;
      await writeFile(lockFile, JSON.stringify({ pid: gone.pid, since: "then" }) + "\n");
      assert.deepEqual(await node("status"), [SECOND]);
    });

    await t.step("a consumer type-checks against the shipped declarations", async () => {
      const config = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
      const tsc = `${config.imports.typescript}/tsc`;
      ok(await run(Deno.execPath(), ["run", "-A", tsc, "-p", project], ROOT), "tsc");
      // The check is real: the same file without its @ts-expect-error fails.
      const consumer = join(project, "consumer.ts");
      const text = await readFile(consumer, "utf8");
      await writeFile(consumer, text.replace(/^\/\/ @ts-expect-error.*\n/m, ""));
      const failed = await run(Deno.execPath(), ["run", "-A", tsc, "-p", project], ROOT);
      await writeFile(consumer, text);
      assert.notEqual(failed.code, 0, "tsc accepted a wrong type");
      assert.match(failed.stdout, /consumer\.ts\(5,7\): error TS2322/);
    });
    console.log(`whole test: ${((Date.now() - started) / 1000).toFixed(1)}s`);
  },
});

serverTest(
  "npm package: status on a server database and a StrataError by code, on Node",
  async (url) => {
    const { project, dir } = await installed();
    const missingUrl = new URL(url);
    missingUrl.pathname = `/strata_missing_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const missing = missingUrl.toString();
    const node = JSON.parse(
      ok(await run("node", ["status.mjs", dir, url, missing], project), "node status.mjs"),
    );
    assert.deepEqual(node.found.pending, [FIRST, SECOND]);
    assert.deepEqual(node.found, await status({ database: url, dir }));
    const deno = await rejection(status({ database: missing, dir }));
    assert.ok(deno instanceof StrataError);
    assert.equal(node.error.code, "CONNECT");
    assert.equal(node.error.exit, 2);
    assert.deepEqual(node.error, {
      code: deno.code,
      exit: 2,
      message: deno.message,
      hint: deno.hint,
    });
  },
);

/**
 * Builds strata's npm package from mod.ts (`deno task npm [OUT]`, default
 * dist/npm): ESM JavaScript for Node 20 and later, .d.ts types, package.json,
 * README.md and LICENSE. `npm publish dist/npm` would upload it.
 *
 * esbuild bundles lib/ with code splitting, so what loads lazily under Deno
 * (the commands, PGlite, the SQL parser, the 6 MB pristine image) stays a
 * separate chunk loaded on first use. The npm packages stay imports, declared
 * as dependencies at the versions deno.json pins. lib/ calls `Deno.*`; in
 * the bundle every free `Deno` is tools/npm/deno_shim.ts (@deno/shim-deno on
 * Node), so the sources, the CLI and `deno compile` are untouched.
 *
 * The types are TypeScript's declaration emit of mod.ts, trimmed to the
 * files mod.d.ts reaches (the public API is explicitly typed: JSR's
 * slow-types check holds it to that).
 */
import * as esbuild from "esbuild";
import ts from "typescript";
import { builtinModules } from "node:module";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { VERSION } from "../lib/version.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The npm packages lib/ imports at run time, with the deno.json import they come from. */
const DEPENDENCIES = ["postgres", "@electric-sql/pglite", "libpg-query", "@deno/shim-deno"];
/**
 * pgvector's package asks for an older PGlite (an exact peer version), which
 * npm would refuse beside the pinned one: it is an optional peer, installed by
 * whoever needs `CREATE EXTENSION vector` on the embedded engine.
 */
const OPTIONAL_PEERS = ["@electric-sql/pglite-pgvector"];

/** `npm:name@1.2.3` of deno.json's import map to `1.2.3`. */
function pinned(imports: Record<string, string>, name: string): string {
  const match = /^npm:(@?[^@]+)@([^/]+)$/.exec(imports[name] ?? "");
  if (!match || match[1] !== name) throw new Error(`deno.json pins no npm version of "${name}"`);
  return match[2];
}

/** The bare package name of an import specifier: `@a/b/c` → `@a/b`, `x/y` → `x`. */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

async function bundle(out: string, allowed: Set<string>): Promise<void> {
  const result = await esbuild.build({
    entryPoints: { mod: join(ROOT, "mod.ts") },
    outdir: join(out, "esm"),
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    inject: [join(ROOT, "tools/npm/deno_shim.ts")],
    metafile: true,
    logLevel: "warning",
  });
  const builtins = new Set(builtinModules);
  for (const output of Object.values(result.metafile.outputs)) {
    for (const { path, external } of output.imports) {
      if (!external) continue;
      const bare = path.replace(/^node:/, "");
      if (path.startsWith("node:") || builtins.has(bare)) continue;
      if (!allowed.has(packageOf(path))) {
        throw new Error(`The bundle imports "${path}", which package.json does not declare`);
      }
    }
  }
}

/** Relative module specifiers in a .d.ts: `from "./x.ts"`, `import("./x.ts")`. */
const SPECIFIER_REGEXP = /(\bfrom\s+|\bimport\s*\(\s*)"(\.{1,2}\/[^"]+)"/g;

async function declarations(out: string): Promise<string[]> {
  const emitted = new Map<string, string>();
  const program = ts.createProgram([join(ROOT, "mod.ts")], {
    declaration: true,
    emitDeclarationOnly: true,
    // Deno checks these sources; here only the declarations are wanted.
    noCheck: true,
    allowImportingTsExtensions: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    rootDir: ROOT,
    outDir: join(out, "types"),
    types: [],
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
  });
  const emit = program.emit(undefined, (file, text) => emitted.set(resolve(file), text));
  if (emit.emitSkipped) throw new Error("TypeScript emitted no declarations");

  // Only what mod.d.ts reaches ships, with `.ts` specifiers turned into `.js`.
  const written: string[] = [];
  const queue = [resolve(out, "types/mod.d.ts")];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (written.includes(file)) continue;
    const text = emitted.get(file);
    if (text === undefined) throw new Error(`No declaration emitted for ${relative(out, file)}`);
    const rewritten = text.replace(SPECIFIER_REGEXP, (_all, lead: string, spec: string) => {
      const js = spec.replace(/\.ts$/, ".js");
      queue.push(resolve(dirname(file), js.replace(/\.js$/, ".d.ts")));
      return `${lead}"${js}"`;
    });
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, rewritten);
    written.push(file);
  }
  return written.map((file) => relative(out, file)).sort();
}

/** Builds the package into `out` (emptied first) and returns its package.json. */
export async function buildNpm(out: string): Promise<Record<string, unknown>> {
  const config = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
  const imports: Record<string, string> = config.imports;
  const allowed = new Set([...DEPENDENCIES, ...OPTIONAL_PEERS]);
  const pkg = {
    name: config.name,
    version: VERSION,
    description: "PostgreSQL schema migrations in plain SQL files, from a Node or Deno program",
    license: config.license,
    type: "module",
    exports: { ".": { types: "./types/mod.d.ts", import: "./esm/mod.js" } },
    types: "./types/mod.d.ts",
    engines: { node: ">=20" },
    dependencies: Object.fromEntries(DEPENDENCIES.map((name) => [name, pinned(imports, name)])),
    peerDependencies: Object.fromEntries(
      OPTIONAL_PEERS.map((name) => [name, pinned(imports, name)]),
    ),
    peerDependenciesMeta: Object.fromEntries(
      OPTIONAL_PEERS.map((name) => [name, { optional: true }]),
    ),
  };
  if (config.version !== VERSION) {
    throw new Error(`deno.json's version ${config.version} is not lib/version.ts's ${VERSION}`);
  }
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  try {
    await bundle(out, allowed);
  } finally {
    await esbuild.stop();
  }
  await declarations(out);
  await writeFile(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
  for (const file of ["README.md", "LICENSE"]) await copyFile(join(ROOT, file), join(out, file));
  return pkg;
}

if (import.meta.main) {
  const out = resolve(Deno.args[0] ?? join(ROOT, "dist/npm"));
  const pkg = await buildNpm(out);
  console.log(`${pkg.name}@${pkg.version} written to ${out}`);
}

/**
 * The `Deno` that strata's npm build sees on Node: esbuild injects this
 * module for every free `Deno` in lib/ (tools/build_npm.ts), so the sources
 * stay plain Deno and the CLI, `deno compile` and JSR run them unchanged.
 * @deno/shim-deno covers the file system, environment and process calls;
 * what it lacks and lib/ reaches from mod.ts is added here.
 */
import { Deno as shim } from "@deno/shim-deno";
import { patchFileLocks } from "./file_lock.ts";

/** Node reports a path through a file as ENOTDIR; Deno throws this class. */
class NotADirectory extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof Error && (value as { code?: unknown }).code === "ENOTDIR";
  }
}

/** A missing Deno permission: Node has no permissions, so nothing is one. */
class NotCapable extends Error {}

const errors = Object.create(shim.errors, {
  NotADirectory: { value: NotADirectory },
  NotCapable: { value: NotCapable },
});

/** Node's timers are objects that can be unreferenced themselves. */
function unrefTimer(id: unknown): void {
  (id as { unref?: () => void } | undefined)?.unref?.();
}

patchFileLocks(shim.FsFile.prototype);

/** The shim with the additions; its own properties are getters, which stay live. */
export const Deno: typeof shim = Object.create(shim, {
  errors: { value: errors },
  unrefTimer: { value: unrefTimer },
});

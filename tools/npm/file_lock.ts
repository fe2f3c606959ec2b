/**
 * `FsFile.tryLock` and `unlock` for the npm build: Node has no flock, and
 * @deno/shim-deno's FsFile has no lock methods. strata locks a `pglite:`
 * folder's lock file and then writes `{"pid": …}` into it (lib/db/embedded.ts),
 * so on Node a lock file is taken as held while another FsFile of this process
 * holds it, or while the pid written in it is a live process other than this
 * one (a Deno strata holding the real lock writes its pid too). What Node
 * cannot do: make a Deno strata, which asks flock, wait for a Node holder.
 */
import { fstatSync, readSync } from "node:fs";
import process from "node:process";

/** What the patch needs of the shim's FsFile. */
interface LockableFile {
  readonly rid: number;
  close(): void;
  tryLock?(exclusive?: boolean): Promise<boolean>;
  unlock?(): Promise<void>;
}

const held = new Map<LockableFile, string>();

function identity(fd: number): string {
  const stat = fstatSync(fd);
  return `${stat.dev}:${stat.ino}`;
}

function writtenPid(fd: number): number | null {
  const bytes = new Uint8Array(512);
  const length = readSync(fd, bytes, 0, bytes.length, 0);
  try {
    const pid = JSON.parse(new TextDecoder().decode(bytes.subarray(0, length))).pid;
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

/** Adds the lock methods to the shim's FsFile class. */
export function patchFileLocks(prototype: LockableFile): void {
  const close = prototype.close;
  prototype.tryLock = function (this: LockableFile): Promise<boolean> {
    const id = identity(this.rid);
    if ([...held.values()].includes(id)) return Promise.resolve(false);
    const pid = writtenPid(this.rid);
    if (pid !== null && pid !== process.pid && isAlive(pid)) return Promise.resolve(false);
    held.set(this, id);
    return Promise.resolve(true);
  };
  prototype.unlock = function (this: LockableFile): Promise<void> {
    held.delete(this);
    return Promise.resolve();
  };
  prototype.close = function (this: LockableFile): void {
    held.delete(this);
    close.call(this);
  };
}

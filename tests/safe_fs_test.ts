/**
 * Hostile folders: named pipes and symlinks where migration files, category
 * folders or the embedded lock file should be. strata refuses them (exit 5,
 * naming the path) before it changes anything, never hangs on a pipe, and
 * never writes, truncates or deletes outside the folder it manages. A killed
 * restore's temporary files are swept by the next run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Containment, sweepTemporaries, temporaryPath } from "../lib/safe_fs.ts";
import {
  type CliResult,
  dump,
  expectExit,
  parseJson,
  scratchDir,
  SERVER_URL,
  serverDirTest,
  spawnStrata,
  strata,
  treeListing,
  writeMigration,
} from "./helpers.ts";

const UP = "-- up\nSELECT 1;\n-- down\nSELECT 1;\n";

/** A scratch project: `dir/migrations`, and `dir/outside` that strata must never change. */
async function project(fn: (dir: string) => Promise<void>): Promise<void> {
  const scratch = await scratchDir();
  try {
    await Deno.mkdir(join(scratch.path, "migrations"));
    await writeMigration(join(scratch.path, "outside"), "20240101_0500_theirs", "precious");
    await Deno.writeTextFile(join(scratch.path, "outside", "notes.txt"), "precious");
    await fn(scratch.path);
  } finally {
    await scratch.remove();
  }
}

async function mkfifo(path: string): Promise<void> {
  const { code } = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.equal(code, 0, `mkfifo ${path}`);
}

/**
 * The CLI, killed if it has not finished within `limitMs`: a hang shows as a
 * failed test, not a stuck suite. The limit only catches hangs; nothing here
 * asserts on time.
 */
async function runOrKill(args: string[], cwd: string): Promise<CliResult> {
  const child = spawnStrata(args, cwd, {});
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  try {
    const r = await child.finish();
    assert.equal(r.signal, null, `strata ${args.join(" ")} hung and was killed\n${dump(r)}`);
    return r;
  } finally {
    clearTimeout(timer);
  }
}

function expectRefused(r: CliResult, path: string, what: string): void {
  expectExit(r, 5, what);
  assert.ok(r.stderr.includes(path), `${what}: the error does not name ${path}\n${dump(r)}`);
}

for (const where of ["20240101_0000_x.sql", "01_foundation/20240101_0000_x.sql"]) {
  Deno.test(`a named pipe at migrations/${where} is refused unopened by heads, status and backup`, async () => {
    await project(async (dir) => {
      await writeMigration(join(dir, "migrations"), "20240101_0001_ok", UP);
      await Deno.mkdir(join(dir, "migrations", "01_foundation"));
      await mkfifo(join(dir, "migrations", where));
      for (
        const args of [["heads"], ["status", "--database", "pglite:db"], ["backup"], [
          "backup",
          "--json",
        ]]
      ) {
        const r = await runOrKill(args, dir);
        expectRefused(r, join("migrations", where), args.join(" "));
        if (args.includes("--json")) assert.equal(parseJson(r, "backup").error.code, "FILE");
      }
      assert.equal(
        await Deno.stat(join(dir, "versions_backup")).then(() => true, () => false),
        false,
      );
    });
  });
}

Deno.test("a symlinked migration file is read when it leads inside the folder, refused when it leads out", async () => {
  await project(async (dir) => {
    const migrations = join(dir, "migrations");
    await writeMigration(join(migrations, "shared"), "20240101_0001_real", UP);
    await Deno.symlink(
      join("shared", "20240101_0001_real.sql"),
      join(migrations, "20240101_0002_link.sql"),
    );
    expectExit(await runOrKill(["heads"], dir), 0, "a link inside");
    await Deno.symlink(
      join(dir, "outside", "20240101_0500_theirs.sql"),
      join(migrations, "20240101_0003_out.sql"),
    );
    expectRefused(await runOrKill(["heads"], dir), "20240101_0003_out.sql", "a link outside");
    await Deno.remove(join(migrations, "20240101_0003_out.sql"));
    await mkfifo(join(dir, "pipe"));
    await Deno.symlink(join(migrations, "..", "pipe"), join(migrations, "20240101_0004_pipe.sql"));
    expectRefused(await runOrKill(["heads"], dir), "20240101_0004_pipe.sql", "a link to a pipe");
  });
});

Deno.test("restore refuses to delete or write through a category folder that links outside, before changing anything", async () => {
  await project(async (dir) => {
    const migrations = join(dir, "migrations");
    await writeMigration(join(migrations, "01_foundation"), "20240101_0001_a", UP);
    expectExit(await strata(["backup"], { cwd: dir }), 0, "backup");
    // The category folder becomes a link to a folder outside the project's migrations.
    await Deno.remove(join(migrations, "01_foundation"), { recursive: true });
    await Deno.symlink(join(dir, "outside"), join(migrations, "01_foundation"));
    const outside = await treeListing(join(dir, "outside"));
    const backups = [...Deno.readDirSync(join(dir, "versions_backup"))].length;
    const r = await strata(["restore", "latest", "--json"], { cwd: dir });
    expectRefused(r, join("migrations", "01_foundation"), "restore");
    assert.equal(parseJson(r, "restore").error.code, "FILE");
    assert.deepEqual(
      await treeListing(join(dir, "outside")),
      outside,
      "restore changed a folder outside",
    );
    assert.equal(
      [...Deno.readDirSync(join(dir, "versions_backup"))].length,
      backups,
      "restore made a backup",
    );
    assert.ok(Deno.lstatSync(join(migrations, "01_foundation")).isSymlink);
  });
});

Deno.test("restore refuses to replace a migration file that is a symlink", async () => {
  await project(async (dir) => {
    const migrations = join(dir, "migrations");
    await writeMigration(migrations, "20240101_0001_a", UP);
    await writeMigration(join(migrations, "shared"), "20240101_0002_b", UP);
    expectExit(await strata(["backup"], { cwd: dir }), 0, "backup");
    // Now b is a link (inside the folder) to a file with other content.
    await Deno.writeTextFile(join(migrations, "other.txt"), UP + "-- edited\n");
    await Deno.remove(join(migrations, "shared", "20240101_0002_b.sql"));
    await Deno.symlink(join("..", "other.txt"), join(migrations, "shared", "20240101_0002_b.sql"));
    const before = await treeListing(migrations);
    expectRefused(
      await strata(["restore", "latest"], { cwd: dir }),
      "20240101_0002_b.sql",
      "restore",
    );
    assert.deepEqual(await treeListing(migrations), before);
  });
});

Deno.test("create and merge refuse a category folder that links outside the migrations folder", async () => {
  await project(async (dir) => {
    // A folder elsewhere: the migrations load, only the write is refused.
    const elsewhere = join(dir, "elsewhere");
    await Deno.mkdir(elsewhere);
    await Deno.symlink(elsewhere, join(dir, "migrations", "02_core"));
    await writeMigration(join(dir, "migrations"), "20240101_0001_a", UP);
    const create = await strata(["create", "add users", "--category", "02_core"], { cwd: dir });
    expectRefused(create, join("migrations", "02_core"), "create --category");
    assert.deepEqual(await treeListing(elsewhere), []);
    // A second root in the linked folder: merge writes beside the last head, there.
    await writeMigration(elsewhere, "20240101_0002_b", "-- parents:\n" + UP);
    const before = await treeListing(elsewhere);
    expectRefused(await strata(["merge", "-m", "join"], { cwd: dir }), "02_core", "merge");
    assert.deepEqual(await treeListing(elsewhere), before);
  });
});

Deno.test("init leaves a category name that is a link alone and writes nothing through it", async () => {
  await project(async (dir) => {
    await Deno.symlink(join(dir, "outside"), join(dir, "migrations", "01_foundation"));
    const outside = await treeListing(join(dir, "outside"));
    expectExit(await strata(["init"], { cwd: dir }), 0, "init");
    assert.deepEqual(await treeListing(join(dir, "outside")), outside);
    assert.ok(Deno.statSync(join(dir, "migrations", "02_core_features", ".gitkeep")).isFile);
  });
});

for (const kind of ["symlink", "pipe"]) {
  Deno.test(`a strata.lock that is a ${kind} is refused before anything is truncated`, async () => {
    await project(async (dir) => {
      await Deno.mkdir(join(dir, "db"));
      const lock = join(dir, "db", "strata.lock");
      if (kind === "symlink") await Deno.symlink(join(dir, "outside", "notes.txt"), lock);
      else await mkfifo(lock);
      await writeMigration(join(dir, "migrations"), "20240101_0001_a", UP);
      const r = await runOrKill(["apply", "--database", "pglite:db"], dir);
      expectRefused(r, join("db", "strata.lock"), "apply");
      assert.equal(await Deno.readTextFile(join(dir, "outside", "notes.txt")), "precious");
      assert.equal(
        await Deno.stat(join(dir, "db", "PG_VERSION")).then(() => true, () => false),
        false,
      );
    });
  });
}

Deno.test("sweepTemporaries removes only leftover temporaries named as strata names them", async () => {
  await project(async (dir) => {
    const migrations = join(dir, "migrations");
    await writeMigration(join(migrations, "01_foundation"), "20240101_0001_a", UP);
    const leftovers = [
      temporaryPath(join(migrations, "20240101_0002_b.sql")),
      temporaryPath(join(migrations, "01_foundation", "20240101_0001_a.sql")),
    ];
    for (const path of leftovers) await Deno.writeTextFile(path, "half");
    const kept = [".gitkeep", ".x.sql.tmp", ".a.sql.not-a-uuid.tmp"].map((name) =>
      join(migrations, name)
    );
    for (const path of kept) await Deno.writeTextFile(path, "mine");
    // A link with a temporary's name is not strata's: left alone.
    const link = temporaryPath(join(migrations, "c.sql"));
    await Deno.symlink(join(dir, "outside", "notes.txt"), link);
    assert.deepEqual(sweepTemporaries(new Containment(migrations)).sort(), leftovers.sort());
    for (const path of [...kept, link]) assert.ok(Deno.lstatSync(path));
    assert.equal(await Deno.readTextFile(join(dir, "outside", "notes.txt")), "precious");
  });
});

Deno.test("a restore killed before its renames leaves temporaries the next restore removes", async () => {
  await project(async (dir) => {
    const migrations = join(dir, "migrations");
    await writeMigration(join(migrations, "01_foundation"), "20240101_0001_a", UP);
    expectExit(await strata(["backup"], { cwd: dir }), 0, "backup");
    // What a killed restore leaves: a hidden temporary beside each file it was writing.
    const leftover = temporaryPath(join(migrations, "01_foundation", "20240101_0001_a.sql"));
    await Deno.writeTextFile(leftover, "half written");
    expectExit(await strata(["restore", "latest"], { cwd: dir }), 0, "restore");
    assert.equal(
      await Deno.stat(leftover).then(() => true, () => false),
      false,
      "the leftover stayed",
    );
    expectExit(await strata(["heads"], { cwd: dir }), 0, "heads");
  });
});

serverDirTest(
  "clean refuses to delete a replaced revision that is a symlink, before its backup",
  async (dir) => {
    const migrations = join(dir, "migrations");
    for (const n of [1, 2, 3]) {
      await writeMigration(
        join(migrations, "shared"),
        `20240101_000${n}_t${n}`,
        `-- up\nCREATE TABLE t${n} (id int);\n-- down\nDROP TABLE t${n};\n`,
      );
    }
    await Deno.rename(
      join(migrations, "shared", "20240101_0001_t1.sql"),
      join(migrations, "shared", "t1.txt"),
    );
    await Deno.symlink(join("shared", "t1.txt"), join(migrations, "20240101_0001_t1.sql"));
    const before = await treeListing(dir);
    const r = await strata(["clean", "1", "--scratch", SERVER_URL], { cwd: dir });
    expectRefused(r, "20240101_0001_t1.sql", "clean");
    assert.deepEqual(await treeListing(dir), before, "clean changed something");
  },
);

Deno.test("restore refuses a snapshot holding a named pipe, unopened", async () => {
  await project(async (dir) => {
    await writeMigration(join(dir, "migrations"), "20240101_0001_a", UP);
    const made = await strata(["backup", "--json"], { cwd: dir });
    expectExit(made, 0, "backup");
    const snapshot = parseJson(made, "backup").backup.path;
    await Deno.remove(join(dir, snapshot, "20240101_0001_a.sql"));
    await mkfifo(join(dir, snapshot, "20240101_0001_a.sql"));
    const before = await treeListing(join(dir, "migrations"));
    expectRefused(await runOrKill(["restore", "latest"], dir), "20240101_0001_a.sql", "restore");
    assert.deepEqual(await treeListing(join(dir, "migrations")), before);
  });
});

/**
 * Snapshots of the migrations folder: lib/backup.ts directly, then the
 * backup / backups / restore commands through the real CLI. No database.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type BackupInfo,
  createBackup,
  listBackups,
  MANIFEST_NAME,
  resolveBackup,
  restoreBackup,
  verifyBackup,
} from "../lib/backup.ts";
import { expectExit, parseJson, rejection, scratchDir, strata, treeListing } from "./helpers.ts";

const UP = "-- up\nselect 1;\n-- down\nselect 2;\n";
const NOW = new Date("2024-03-01T12:34:56.789Z");
const STAMP = "backup_20240301_123456";

/** Run `fn` in a scratch folder holding `migrations/` (see seed) and a backup root. */
async function inScratch(fn: (dir: string, root: string, base: string) => Promise<void>) {
  const scratch = await scratchDir();
  try {
    const dir = join(scratch.path, "migrations");
    await seed(dir);
    await fn(dir, join(scratch.path, "versions_backup"), scratch.path);
  } finally {
    await scratch.remove();
  }
}

async function put(path: string, content: string | Uint8Array): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeFile(path, typeof content === "string" ? encode(content) : content);
}

const encode = (text: string) => new TextEncoder().encode(text);

/**
 * A top-level file, category files, a BOM + CRLF file, a file that is not
 * UTF-8, one that does not parse, a non-SQL file and an empty category folder.
 */
async function seed(dir: string): Promise<void> {
  await put(join(dir, "20240101_0900_root.sql"), `-- parents:\n${UP}`);
  await put(
    join(dir, "01_foundation", "20240102_0900_users.sql"),
    `-- parents: 20240101_0900_root\n${UP}`,
  );
  await put(
    join(dir, "01_foundation", "20240103_0900_bom.sql"),
    "\ufeff-- message: crlf\r\n-- up\r\nselect 3;\r\n",
  );
  await put(
    join(dir, "02_core", "20240104_0900_latin1.sql"),
    new Uint8Array([...encode("-- up\nselect '"), 0xe9, ...encode("';\n")]),
  );
  await put(join(dir, "02_core", "20240105_0900_broken.sql"), "select 1;\n");
  await put(join(dir, "02_core", "README.md"), "notes\n");
  await Deno.mkdir(join(dir, "03_empty"));
}

const listing = (dir: string) => treeListing(dir);

/** Change the files: edit one, delete one, add one in a new category and one at the top. */
async function mutate(dir: string): Promise<void> {
  await put(join(dir, "01_foundation", "20240102_0900_users.sql"), `-- parents:\n${UP}edited\n`);
  await Deno.remove(join(dir, "01_foundation", "20240103_0900_bom.sql"));
  await put(join(dir, "09_new", "20240201_0900_extra.sql"), UP);
  await put(join(dir, "20240202_0900_top.sql"), UP);
}

// ---------------------------------------------------------------- backup

Deno.test("backup copies raw bytes with category folders and a manifest", async () => {
  await inScratch(async (dir, root) => {
    const info = await createBackup(dir, root, NOW);
    assert.equal(info.id, STAMP);
    assert.equal(info.path, join(root, STAMP));
    assert.equal(info.createdAt, NOW.toISOString());
    assert.equal(info.files, 5);
    assert.equal(info.partial, false);
    const copied = (await listing(info.path)).filter((line) => !line.startsWith(MANIFEST_NAME));
    const sql = (await listing(dir)).filter((line) => line.includes(".sql ") || line.endsWith("/"))
      .filter((line) => line !== "03_empty/");
    assert.deepEqual(copied, sql);

    const manifest = await verifyBackup(root, info.id);
    assert.equal(manifest.source, dir);
    assert.deepEqual(manifest.folders, ["01_foundation", "02_core", "03_empty"]);
    assert.equal(info.bytes, manifest.files.reduce((sum, f) => sum + f.bytes, 0));
    const byPath = new Map(manifest.files.map((f) => [f.path, f]));
    const users = byPath.get("01_foundation/20240102_0900_users.sql")!;
    assert.equal(users.id, "20240102_0900_users");
    assert.deepEqual(users.parents, ["20240101_0900_root"]);
    assert.equal(users.error, null);
    // The ledger's checksum: the BOM dropped and CRLF as LF.
    const bom = byPath.get("01_foundation/20240103_0900_bom.sql")!;
    const lf = await createBackupOf({
      "x/20240103_0900_bom.sql": "-- message: crlf\n-- up\nselect 3;\n",
    });
    assert.equal(bom.checksum, lf.checksum);
    assert.notEqual(bom.sha256, lf.sha256);
    assert.equal(bom.parents, null);
    const latin1 = byPath.get("02_core/20240104_0900_latin1.sql")!;
    assert.equal(latin1.checksum, null);
    assert.match(latin1.error!, /02_core\/20240104_0900_latin1\.sql:2: .*UTF-8/);
    const broken = byPath.get("02_core/20240105_0900_broken.sql")!;
    assert.equal(broken.id, "20240105_0900_broken");
    assert.match(broken.error!, /^02_core\/20240105_0900_broken\.sql:1: /);
  });
});

/** The manifest entry of a one-file folder. */
async function createBackupOf(files: Record<string, string>) {
  const scratch = await scratchDir();
  try {
    for (const [rel, text] of Object.entries(files)) await put(join(scratch.path, "m", rel), text);
    const info = await createBackup(join(scratch.path, "m"), join(scratch.path, "b"));
    return (await verifyBackup(join(scratch.path, "b"), info.id)).files[0];
  } finally {
    await scratch.remove();
  }
}

Deno.test("backups in the same second get _2, _3 …, also concurrently", async () => {
  await inScratch(async (dir, root) => {
    const first = await createBackup(dir, root, NOW);
    const second = await createBackup(dir, root, NOW);
    assert.deepEqual([first.id, second.id], [STAMP, `${STAMP}_2`]);
    const together = await Promise.all(
      Array.from({ length: 6 }, () => createBackup(dir, root, NOW)),
    );
    const ids = together.map((b) => b.id).sort();
    assert.equal(new Set(ids).size, 6);
    for (const id of ids) assert.match(id, new RegExp(`^${STAMP}_[3-8]$`));
    for (const id of ids) await verifyBackup(root, id);
  });
});

Deno.test("a missing migrations folder is a configuration error", async () => {
  await inScratch(async (dir, root) => {
    const error = await rejection(createBackup(join(dir, "nope"), root, NOW));
    assert.equal(error.code, "CONFIG");
  });
});

// ---------------------------------------------------------------- listing and resolving

Deno.test("backups are listed newest first; partial and damaged ones are flagged", async () => {
  await inScratch(async (dir, root) => {
    const at = (iso: string) => createBackup(dir, root, new Date(iso));
    await at("2024-03-02T00:00:00Z");
    await at("2024-03-01T00:00:00Z");
    for (let i = 0; i < 10; i++) await at("2024-03-03T00:00:00Z");
    // An interrupted backup: files, no manifest.
    await put(join(root, "backup_20240304_000000", "x.sql"), "abc");
    await put(join(root, "backup_20240305_000000", MANIFEST_NAME), "{oops");
    await Deno.mkdir(join(root, "not_a_backup"));
    const list = await listBackups(root);
    assert.deepEqual(list.map((b) => b.id), [
      "backup_20240305_000000",
      "backup_20240304_000000",
      ...[10, 9, 8, 7, 6, 5, 4, 3, 2].map((n) => `backup_20240303_000000_${n}`),
      "backup_20240303_000000",
      "backup_20240302_000000",
      "backup_20240301_000000",
    ]);
    assert.deepEqual(
      list.slice(0, 3).map((b) => [b.partial, b.files, b.bytes]),
      [[true, 0, 0], [true, 1, 3], [false, 5, list[2].bytes]],
    );
    assert.equal(list[1].problem, "no manifest.json");
    assert.match(list[0].problem!, /not valid JSON/);
    assert.equal(list[1].createdAt, "2024-03-04T00:00:00.000Z");
    assert.deepEqual(await listBackups(join(root, "missing")), []);
  });
});

Deno.test("a backup is found by id, unique prefix or latest; else a usage error", async () => {
  await inScratch(async (dir, root) => {
    assert.equal((await rejection(resolveBackup(root, "latest"))).code, "USAGE");
    await createBackup(dir, root, new Date("2024-03-01T10:00:00Z"));
    await createBackup(dir, root, new Date("2024-03-02T10:00:00Z"));
    await createBackup(dir, root, new Date("2024-03-02T10:00:00Z"));
    await put(join(root, "backup_20240309_000000", "x.sql"), "partial");
    const id = async (ref: string) => (await resolveBackup(root, ref)).id;
    assert.equal(await id("latest"), "backup_20240302_100000_2", "latest skips partial ones");
    assert.equal(await id("backup_20240302_100000"), "backup_20240302_100000");
    assert.equal(await id("20240302_100000"), "backup_20240302_100000");
    assert.equal(await id("backup_20240301"), "backup_20240301_100000");
    assert.equal(await id("20240301"), "backup_20240301_100000");
    const ambiguous = await rejection(resolveBackup(root, "20240302"));
    assert.equal(ambiguous.code, "USAGE");
    assert.match(ambiguous.hint!, /backup_20240302_100000_2, backup_20240302_100000/);
    const unknown = await rejection(resolveBackup(root, "2023"));
    assert.equal(unknown.code, "USAGE");
    assert.match(unknown.hint!, /backup_20240309_000000/);
    assert.equal((await rejection(resolveBackup(root, ""))).code, "USAGE");
  });
});

// ---------------------------------------------------------------- restore

Deno.test("restore round trip: byte for byte, extra files removed, safety backup", async () => {
  await inScratch(async (dir, root) => {
    const before = await listing(dir);
    const info = await createBackup(dir, root, NOW);
    await mutate(dir);
    const changed = await listing(dir);
    const result = await restoreBackup(dir, root, "latest");
    assert.equal(result.restored, info.id);
    assert.deepEqual(await listing(dir), before);
    assert.deepEqual(result.written.sort(), [
      join(dir, "01_foundation", "20240102_0900_users.sql"),
      join(dir, "01_foundation", "20240103_0900_bom.sql"),
    ]);
    assert.deepEqual(result.removed.sort(), [
      join(dir, "09_new", "20240201_0900_extra.sql"),
      join(dir, "20240202_0900_top.sql"),
    ]);
    assert.equal(result.unchanged, 3);
    // The safety backup holds the files as they were, and restoring it undoes the restore.
    const safety = result.safetyBackup!;
    assert.equal(safety.id, (await listBackups(root))[0].id);
    assert.equal(safety.files, 6);
    const undo = await restoreBackup(dir, root, safety.id);
    assert.deepEqual(await listing(dir), changed);
    assert.deepEqual(undo.removed, [join(dir, "01_foundation", "20240103_0900_bom.sql")]);
  });
});

Deno.test("restoring the current content only adds the safety backup", async () => {
  await inScratch(async (dir, root) => {
    const before = await listing(dir);
    await createBackup(dir, root, NOW);
    const result = await restoreBackup(dir, root, STAMP);
    assert.deepEqual([result.written, result.removed, result.unchanged], [[], [], 5]);
    assert.deepEqual(await listing(dir), before);
    assert.equal((await listBackups(root)).length, 2);
  });
});

Deno.test("restore keeps non-SQL files and folders the snapshot has", async () => {
  await inScratch(async (dir, root) => {
    await createBackup(dir, root, NOW);
    await Deno.remove(join(dir, "03_empty"));
    await put(join(dir, "09_new", "20240201_0900_extra.sql"), UP);
    await put(join(dir, "09_kept", "20240201_0900_kept.sql"), UP);
    await put(join(dir, "09_kept", "notes.txt"), "keep me");
    await restoreBackup(dir, root, STAMP);
    const after = await listing(dir);
    assert.ok(after.includes("03_empty/"), "an empty folder of the snapshot is recreated");
    assert.ok(!after.includes("09_new/"), "a folder the restore emptied is removed");
    assert.ok(after.some((line) => line.startsWith("09_kept/notes.txt ")));
    assert.ok(!after.some((line) => line.startsWith("09_kept/20240201")));
  });
});

Deno.test("restore into a missing folder creates it, with no safety backup", async () => {
  await inScratch(async (dir, root) => {
    const before = await listing(dir);
    await createBackup(dir, root, NOW);
    await Deno.remove(dir, { recursive: true });
    const result = await restoreBackup(dir, root, "latest");
    assert.equal(result.safetyBackup, null);
    const sqlAndFolders = (lines: string[]) => lines.filter((l) => !l.includes("README"));
    assert.deepEqual(await listing(dir), sqlAndFolders(before));
  });
});

/** Each way to damage backup STAMP, with the file the refusal must name. */
const TAMPERING: Array<[string, (path: string) => Promise<string>]> = [
  ["a changed byte", async (path) => {
    const file = join(path, "01_foundation", "20240103_0900_bom.sql");
    const bytes = await Deno.readFile(file);
    bytes[5] ^= 1;
    await Deno.writeFile(file, bytes);
    return file;
  }],
  ["a truncated file", async (path) => {
    const file = join(path, "20240101_0900_root.sql");
    await Deno.truncate(file, 3);
    return file;
  }],
  ["a missing file", async (path) => {
    const file = join(path, "02_core", "20240104_0900_latin1.sql");
    await Deno.remove(file);
    return file;
  }],
  ["an extra file", async (path) => {
    const file = join(path, "01_foundation", "20240109_0900_sneaky.sql");
    await put(file, UP);
    return file;
  }],
  ["a missing manifest", async (path) => {
    await Deno.remove(join(path, MANIFEST_NAME));
    return join(path, MANIFEST_NAME);
  }],
  ["a corrupt manifest", async (path) => {
    const text = await Deno.readTextFile(join(path, MANIFEST_NAME));
    await Deno.writeTextFile(join(path, MANIFEST_NAME), text.slice(0, 100));
    return join(path, MANIFEST_NAME);
  }],
  ["a manifest path outside the folder", async (path) => {
    const manifest = JSON.parse(await Deno.readTextFile(join(path, MANIFEST_NAME)));
    manifest.files[0].path = "../../20240101_0900_root.sql";
    await Deno.writeTextFile(join(path, MANIFEST_NAME), JSON.stringify(manifest));
    return join(path, MANIFEST_NAME);
  }],
  ["a manifest checksum that does not match", async (path) => {
    const manifest = JSON.parse(await Deno.readTextFile(join(path, MANIFEST_NAME)));
    manifest.files[0].checksum = "sha256:" + "0".repeat(64);
    await Deno.writeTextFile(join(path, MANIFEST_NAME), JSON.stringify(manifest));
    return join(path, manifest.files[0].path);
  }],
];

for (const [what, tamper] of TAMPERING) {
  Deno.test(`restore refuses a snapshot with ${what}, naming the file, changing nothing`, async () => {
    await inScratch(async (dir, root) => {
      const info = await createBackup(dir, root, NOW);
      const file = await tamper(info.path);
      await mutate(dir);
      const before = await listing(dir);
      const error = await rejection(restoreBackup(dir, root, STAMP));
      assert.equal(error.code, "INTEGRITY");
      assert.equal(error.file, file);
      assert.equal(error.details.backup, STAMP);
      assert.deepEqual(await listing(dir), before);
      assert.equal((await listBackups(root)).length, 1, "no safety backup either");
      assert.equal((await rejection(verifyBackup(root, STAMP))).file, file);
    });
  });
}

// ---------------------------------------------------------------- the CLI

Deno.test("CLI: backup, backups --json, restore latest, a tampered restore, no argument", async () => {
  const scratch = await scratchDir();
  try {
    const cwd = scratch.path;
    const dir = join(cwd, "migrations");
    await put(join(dir, "01_foundation", "20240101_0900_root.sql"), `-- parents:\n${UP}`);
    await put(join(dir, "20240102_0900_crlf.sql"), "\ufeff-- up\r\nselect 2;\r\n");
    const run = (...args: string[]) => strata(args, { cwd });
    const original = await listing(dir);

    const made = await run("backup", "--json");
    expectExit(made, 0, "backup --json");
    const first = parseJson(made, "backup --json").backup;
    assert.equal(first.files, 2);
    assert.match(first.id, /^backup_\d{8}_\d{6}$/);
    assert.equal(first.path, join("versions_backup", first.id));
    await put(join(dir, "20240102_0900_crlf.sql"), "changed");
    await put(join(dir, "02_core", "20240103_0900_new.sql"), UP);
    const changed = await listing(dir);
    const second = await run("backup");
    expectExit(second, 0, "backup");
    assert.match(second.stdout, /backup_\d{8}_\d{6}/);

    const listed = await run("backups", "--json");
    expectExit(listed, 0, "backups --json");
    const backups: BackupInfo[] = parseJson(listed, "backups --json").backups;
    assert.equal(backups.length, 2);
    assert.equal(backups[1].id, first.id);
    assert.deepEqual(backups.map((b) => b.files), [3, 2]);

    const restored = await run("restore", first.id, "--json");
    expectExit(restored, 0, "restore --json");
    const doc = parseJson(restored, "restore --json");
    assert.equal(doc.restored, first.id);
    assert.equal(doc.written, 1);
    assert.deepEqual(doc.removed, [join("migrations", "02_core", "20240103_0900_new.sql")]);
    assert.match(doc.safetyBackup, /^backup_/);
    assert.deepEqual(await listing(dir), original);

    // latest is now the safety backup: restoring it undoes the restore.
    const undone = await run("restore", "latest", "--json");
    expectExit(undone, 0, "restore latest --json");
    assert.equal(parseJson(undone, "restore latest --json").restored, doc.safetyBackup);
    assert.deepEqual(await listing(dir), changed);

    // Tamper with the first backup: refused (exit 5) naming the file, nothing changed.
    const victim = join(cwd, "versions_backup", first.id, "20240102_0900_crlf.sql");
    await Deno.writeTextFile(victim, "tampered");
    await put(join(dir, "20240104_0900_later.sql"), UP);
    const before = await listing(dir);
    const refused = await run("restore", first.id, "--json");
    expectExit(refused, 5, "restore of a tampered backup");
    const error = parseJson(refused, "restore --json").error;
    assert.equal(error.code, "INTEGRITY");
    assert.equal(error.file, join("versions_backup", first.id, "20240102_0900_crlf.sql"));
    assert.match(refused.stderr, /20240102_0900_crlf\.sql/);
    assert.deepEqual(await listing(dir), before);

    const bare = await run("restore");
    expectExit(bare, 2, "restore without an argument");
  } finally {
    await scratch.remove();
  }
});

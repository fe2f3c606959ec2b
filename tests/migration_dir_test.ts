import assert from "node:assert/strict";
import { join } from "node:path";
import { loadMigrations } from "../lib/migration_dir.ts";
import { checksumOf } from "../lib/migration_file.ts";
import { rejection } from "./helpers.ts";

const UP = "-- up\nselect 1;\n-- down\nselect 2;\n";

/** Run `fn` in a fresh temp folder, removed afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "strata-dir-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function write(path: string, content: string | Uint8Array): Promise<string> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  if (typeof content === "string") await Deno.writeTextFile(path, content);
  else await Deno.writeFile(path, content);
  return path;
}

Deno.test("loads .sql files directly in the folder, sorted by id, category null", async () => {
  await inTempDir(async (dir) => {
    await write(join(dir, "20240102_0900_second.sql"), UP);
    await write(join(dir, "20240101_0900_first.sql"), "-- message: first\n" + UP);
    await write(join(dir, "20240103_090005_third.sql"), UP);
    const files = await loadMigrations(dir);
    assert.deepEqual(files.map((f) => f.id), [
      "20240101_0900_first",
      "20240102_0900_second",
      "20240103_090005_third",
    ]);
    assert.equal(files[0].path, join(dir, "20240101_0900_first.sql"));
    assert.equal(files[0].category, null);
    assert.equal(files[0].message, "first");
    assert.equal(files[0].checksum, checksumOf("-- message: first\n" + UP));
  });
});

Deno.test("an empty folder has no migrations", async () => {
  await inTempDir(async (dir) => {
    assert.deepEqual(await loadMigrations(dir), []);
  });
});

Deno.test("reads category folders one level down, sorted by id across folders", async () => {
  await inTempDir(async (dir) => {
    await write(join(dir, "01_foundation", "20240101_0900_users.sql"), UP);
    await write(join(dir, "02_core_features", "20240103_0900_orders.sql"), UP);
    await write(join(dir, "04_optimizations", "20240102_0900_index.sql"), UP);
    await write(join(dir, "20240104_0900_loose.sql"), UP);
    await Deno.mkdir(join(dir, "03_extensions"));
    const files = await loadMigrations(dir);
    assert.deepEqual(
      files.map((f) => [f.id, f.category, f.path]),
      [
        [
          "20240101_0900_users",
          "01_foundation",
          join(dir, "01_foundation", "20240101_0900_users.sql"),
        ],
        [
          "20240102_0900_index",
          "04_optimizations",
          join(dir, "04_optimizations", "20240102_0900_index.sql"),
        ],
        [
          "20240103_0900_orders",
          "02_core_features",
          join(dir, "02_core_features", "20240103_0900_orders.sql"),
        ],
        ["20240104_0900_loose", null, join(dir, "20240104_0900_loose.sql")],
      ],
    );
  });
});

Deno.test("folders deeper than one level and non-.sql files are not migrations", async () => {
  await inTempDir(async (dir) => {
    await write(join(dir, "01_foundation", "20240101_0900_users.sql"), UP);
    await write(join(dir, "01_foundation", "README.md"), "notes");
    await write(join(dir, "01_foundation", "20240101_0900_users.sql.orig"), "junk");
    await write(join(dir, "notes.txt"), "junk");
    const files = await loadMigrations(dir);
    assert.deepEqual(files.map((f) => f.id), ["20240101_0900_users"]);
  });
});

Deno.test("dot-files and dot-folders are ignored", async () => {
  await inTempDir(async (dir) => {
    await write(join(dir, "20240101_0900_a.sql"), UP);
    await write(join(dir, ".20240101_0900_a.sql.swp"), "junk");
    await write(join(dir, ".hidden.sql"), "not even a migration");
    await write(join(dir, ".git", "20240101_0900_a.sql"), "duplicate, but hidden");
    await write(join(dir, "01_foundation", ".#20240102_0900_b.sql"), "editor lock");
    const files = await loadMigrations(dir);
    assert.deepEqual(files.map((f) => f.id), ["20240101_0900_a"]);
  });
});

Deno.test("a duplicate id across category folders is a GRAPH error naming both files", async () => {
  await inTempDir(async (dir) => {
    const a = await write(join(dir, "01_foundation", "20240101_0900_users.sql"), UP);
    const b = await write(join(dir, "02_core_features", "20240101_0900_users.sql"), UP);
    const error = await rejection(loadMigrations(dir));
    assert.equal(error.code, "GRAPH");
    assert.ok(error.file === a || error.file === b, `file: ${error.file}`);
    const other = error.file === a ? b : a;
    assert.ok(error.hint?.includes(other), `hint should name ${other}: ${error.hint}`);
  });
});

Deno.test("a duplicate id between the top folder and a category folder is a GRAPH error", async () => {
  await inTempDir(async (dir) => {
    const a = await write(join(dir, "20240101_0900_users.sql"), UP);
    const b = await write(join(dir, "01_foundation", "20240101_0900_users.sql"), UP);
    const error = await rejection(loadMigrations(dir));
    assert.equal(error.code, "GRAPH");
    assert.ok(error.file === a || error.file === b, `file: ${error.file}`);
    assert.ok(error.hint?.includes(error.file === a ? b : a));
  });
});

Deno.test("a file name that is not YYYYMMDD_HHMM_slug.sql is a FILE error naming it", async () => {
  for (
    const name of [
      "add_users.sql",
      "2024_0101_users.sql",
      "20240101_900_users.sql",
      "20240101_09000_users.sql",
      "20240101_0900_.sql",
      "20240101_0900_add-users.sql",
      "20240101_0900_add users.sql",
      "V1__init.sql",
    ]
  ) {
    await inTempDir(async (dir) => {
      await write(join(dir, "20240101_0800_ok.sql"), UP);
      const bad = await write(join(dir, "02_core_features", name), UP);
      const error = await rejection(loadMigrations(dir));
      assert.equal(error.code, "FILE", name);
      assert.equal(error.file, bad, name);
    });
  }
});

Deno.test("letters of any script are allowed in the slug", async () => {
  await inTempDir(async (dir) => {
    await write(join(dir, "20240101_0900_添加用户头像.sql"), UP);
    await write(join(dir, "20240101_0901_ajouter_élève_2.sql"), UP);
    const files = await loadMigrations(dir);
    assert.deepEqual(files.map((f) => f.id), [
      "20240101_0900_添加用户头像",
      "20240101_0901_ajouter_élève_2",
    ]);
  });
});

Deno.test("a directory named like a migration is a FILE error naming it", async () => {
  await inTempDir(async (dir) => {
    await write(join(dir, "20240101_0900_a.sql"), UP);
    const path = join(dir, "20240102_0900_b.sql");
    await Deno.mkdir(path);
    const error = await rejection(loadMigrations(dir));
    assert.equal(error.code, "FILE");
    assert.equal(error.file, path);
  });
});

Deno.test("a .sql directory inside a category folder is a FILE error naming it", async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, "01_foundation", "20240102_0900_b.sql");
    await Deno.mkdir(path, { recursive: true });
    const error = await rejection(loadMigrations(dir));
    assert.equal(error.code, "FILE");
    assert.equal(error.file, path);
  });
});

Deno.test("a non-UTF-8 file is a FILE error naming the file and line", async () => {
  await inTempDir(async (dir) => {
    await write(join(dir, "20240101_0900_a.sql"), UP);
    const text = new TextEncoder().encode("-- message: latin1\n-- up\nselect 'caf");
    const bytes = new Uint8Array([...text, 0xe9, ...new TextEncoder().encode("';\n")]);
    const path = await write(join(dir, "01_foundation", "20240102_0900_b.sql"), bytes);
    const error = await rejection(loadMigrations(dir));
    assert.equal(error.code, "FILE");
    assert.equal(error.file, path);
    assert.equal(error.line, 3);
  });
});

Deno.test("a 0-byte file is a FILE error (no -- up) at line 1", async () => {
  await inTempDir(async (dir) => {
    await write(join(dir, "20240101_0900_a.sql"), UP);
    const path = await write(join(dir, "20240102_0900_empty.sql"), "");
    const error = await rejection(loadMigrations(dir));
    assert.equal(error.code, "FILE");
    assert.equal(error.file, path);
    assert.equal(error.line, 1);
  });
});

Deno.test("a malformed file is a FILE error with its path and line", async () => {
  await inTempDir(async (dir) => {
    const path = await write(
      join(dir, "03_extensions", "20240102_0900_b.sql"),
      "-- message: m\nCREATE TABLE t ();\n-- up\n",
    );
    const error = await rejection(loadMigrations(dir));
    assert.equal(error.code, "FILE");
    assert.equal(error.file, path);
    assert.equal(error.line, 2);
  });
});

Deno.test("a BOM and CRLF file loads with the same checksum as its LF twin", async () => {
  await inTempDir(async (dir) => {
    const lf = "-- message: m\n" + UP;
    await write(join(dir, "a", "20240101_0900_x.sql"), "\ufeff" + lf.replaceAll("\n", "\r\n"));
    await write(join(dir, "b", "20240101_0900_x.sql"), lf);
    const [crlf] = await loadMigrations(join(dir, "a"));
    const [plain] = await loadMigrations(join(dir, "b"));
    assert.equal(crlf.checksum, plain.checksum);
    assert.equal(crlf.checksum, checksumOf(lf));
    assert.equal(crlf.message, "m");
  });
});

Deno.test("a missing migrations folder is a CONFIG error", async () => {
  await inTempDir(async (dir) => {
    const error = await rejection(loadMigrations(join(dir, "nope")));
    assert.equal(error.code, "CONFIG");
  });
});

Deno.test("a file given as the migrations folder is a CONFIG error", async () => {
  await inTempDir(async (dir) => {
    const path = await write(join(dir, "20240101_0900_a.sql"), UP);
    const error = await rejection(loadMigrations(path));
    assert.equal(error.code, "CONFIG");
  });
});

Deno.test("symlinked category folders are read", async () => {
  await inTempDir(async (dir) => {
    await write(join(dir, "elsewhere", "20240101_0900_a.sql"), UP);
    await Deno.mkdir(join(dir, "migrations"));
    await Deno.symlink(join(dir, "elsewhere"), join(dir, "migrations", "01_foundation"));
    const files = await loadMigrations(join(dir, "migrations"));
    assert.deepEqual(files.map((f) => [f.id, f.category]), [["20240101_0900_a", "01_foundation"]]);
  });
});

Deno.test("many files load in id order", async () => {
  await inTempDir(async (dir) => {
    const ids: string[] = [];
    for (let i = 0; i < 150; i++) {
      const id = `20240101_${String(1000 + i).padStart(4, "0")}_m${i}`;
      ids.push(id);
      await write(join(dir, `0${i % 3}_cat`, `${id}.sql`), UP);
    }
    const files = await loadMigrations(dir);
    assert.deepEqual(files.map((f) => f.id), ids);
  });
});

Deno.test("an unreadable migration (dangling symlink) is a FILE error naming it", async () => {
  await inTempDir(async (dir) => {
    await write(join(dir, "20240101_0900_a.sql"), UP);
    const path = join(dir, "20240102_0900_b.sql");
    await Deno.symlink(join(dir, "gone.sql"), path);
    const error = await rejection(loadMigrations(dir));
    assert.equal(error.code, "FILE");
    assert.equal(error.file, path);
  });
});

/**
 * The README's first screen, through the real command line: in a fresh
 * clone, the everyday sequence it shows (status, create, edit, apply, status,
 * downgrade -1) works on the demo, with the README's own example migration.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { copyExamples, dump, expectExit, parseJson, scratchDir, strata } from "./helpers.ts";

const README = fromFileUrl(new URL("../README.md", import.meta.url));

async function readme(): Promise<string> {
  return await Deno.readTextFile(README);
}

/** The first fenced block of `language` in `text`. */
function firstBlock(text: string, language: string): string {
  const match = new RegExp("```" + language + "\\n([\\s\\S]*?)```").exec(text);
  assert.ok(match, `the README has a ${language} block`);
  return match[1];
}

Deno.test("README: the first screen shows the everyday sequence in order, before the reference tables", async () => {
  const text = await readme();
  const sequence = firstBlock(text, "sh");
  const commands = [
    /strata status/,
    /strata create "/,
    /\$EDITOR /,
    /strata apply/,
    /strata status/,
    /strata downgrade -1/,
  ];
  let from = 0;
  for (const command of commands) {
    const at = sequence.slice(from).search(command);
    assert.ok(at >= 0, `${command} after position ${from} in:\n${sequence}`);
    from += at + 1;
  }
  assert.ok(text.indexOf(sequence) < text.indexOf("## Commands"), "before the command table");
  assert.match(text.slice(0, text.indexOf("## Commands")), /deno task compile.*\n?.*downloads/);
  assert.match(text.slice(0, text.indexOf("## Commands")), /deno task test.*\n?.*minutes/);
});

Deno.test("README: its example migration applies on top of the demo, through the everyday sequence", async () => {
  const example = firstBlock(await readme(), "sql");
  const scratch = await scratchDir();
  try {
    const dir = scratch.path;
    await copyExamples(dir);
    await Deno.writeTextFile(
      join(dir, "strata.json"),
      JSON.stringify({ database: "pglite:.strata/demo", dir: "migrations" }),
    );
    const run = (...args: string[]) => strata(args, { cwd: dir });

    const fresh = await run("status");
    expectExit(fresh, 0, "1. status in a fresh clone");
    assert.match(fresh.stdout, /not created yet/, dump(fresh));
    expectExit(await run("apply"), 0, "the demo (deno task demo)");

    const created = await run("create", "add repository description", "--json");
    expectExit(created, 0, "2. create");
    const doc = parseJson(created, "create --json");
    assert.equal(doc.category, "04_optimizations");
    // 3. edit: the README's example is the file, header included (create wrote the same parents).
    const written = await Deno.readTextFile(join(dir, doc.path));
    assert.match(
      written,
      new RegExp(`^-- message: add repository description\\n-- parents: ${doc.parents[0]}\\n`),
    );
    assert.ok(example.includes(`-- parents: ${doc.parents[0]}\n`), "the example follows the head");
    await Deno.writeTextFile(join(dir, doc.path), example);
    expectExit(await run("lint", doc.revision), 0, "the example lints clean");

    const applied = await run("apply");
    expectExit(applied, 0, "4. apply");
    assert.match(applied.stdout, /Applied 1 revision in /, dump(applied));
    const status = parseJson(await run("status", "--json"), "5. status");
    assert.equal(status.upToDate, true);
    assert.deepEqual(status.current, [doc.revision]);

    const down = await run("downgrade", "-1");
    expectExit(down, 0, "6. downgrade -1");
    const after = parseJson(await run("status", "--json"), "status after downgrade");
    assert.deepEqual(after.pending, [doc.revision]);
  } finally {
    await scratch.remove();
  }
});

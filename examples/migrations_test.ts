// A test of the migrations themselves, on a fresh in-memory database: `deno test -A`.
import assert from "node:assert/strict";
import { apply, lint, verify } from "@strata/strata";

Deno.test("every revision applies to a new database", async () => {
  const { steps } = await apply({ database: "pglite:memory", dir: "migrations" });
  assert.ok(steps.length > 0);
});

Deno.test("every down undoes its up", async () => {
  const result = await verify({ dir: "migrations" });
  assert.deepEqual(result.notRestored, [], `not restored: ${result.notRestored.join(", ")}`);
  assert.ok(result.ok);
});

Deno.test("no error-level lint finding", async () => {
  const { ok, findings } = await lint({ dir: "migrations" });
  assert.ok(ok, findings.map((f) => `${f.file}:${f.line}: ${f.message}`).join("\n"));
});

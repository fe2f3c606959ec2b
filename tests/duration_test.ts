import assert from "node:assert/strict";
import { formatMs, parseDuration } from "../lib/duration.ts";

Deno.test("formatMs: one format, in the units the options take", () => {
  assert.deepEqual(
    [0, 12.4, 999, 1000, 2000, 2350, 13_890, 59_999, 60_000, 65_000, 3_600_000].map(formatMs),
    ["0ms", "12ms", "999ms", "1s", "2s", "2.35s", "13.89s", "60s", "1m", "1m5s", "60m"],
  );
});

Deno.test("formatMs gives back the text of an option's duration", () => {
  for (const text of ["500ms", "2s", "2.35s", "1m"]) {
    assert.equal(formatMs(parseDuration(text, "--lock-timeout")), text);
  }
});

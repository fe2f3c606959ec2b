// Node: migrate, then start the app (`node migrate.mjs && node server.js`).
import process from "node:process";
import { apply, StrataError } from "@strata/strata";

try {
  const { steps } = await apply({
    database: process.env.DATABASE_URL,
    dir: "migrations",
    // Several instances deploying at once: one migrates, the others wait, then find nothing to do.
    lockTimeout: "2m",
    log: ({ text }) => console.log(`migrate: ${text}`),
  });
  console.log(`migrate: ${steps.length} revision(s) applied`);
} catch (error) {
  if (!(error instanceof StrataError)) throw error;
  console.error(`migrate: ${error.code}: ${error.message}${error.hint ? ` (${error.hint})` : ""}`);
  process.exitCode = 1;
}

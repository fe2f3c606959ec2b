// A Deno server that migrates its database at boot, then serves.
import { apply, StrataError } from "@strata/strata";

try {
  const { steps } = await apply({
    database: Deno.env.get("DATABASE_URL"),
    dir: "migrations",
    // Several instances booting at once: one migrates, the others wait, then find nothing to do.
    lockTimeout: "2m",
    log: ({ text }) => console.log(`migrate: ${text}`),
  });
  console.log(`migrate: revisions applied: ${steps.length}`);
} catch (error) {
  if (!(error instanceof StrataError)) throw error;
  console.error(`migrate: ${error.code}: ${error.message}${error.hint ? ` (${error.hint})` : ""}`);
  Deno.exit(1);
}

Deno.serve({ port: Number(Deno.env.get("PORT") ?? 8000) }, () => new Response("ok"));

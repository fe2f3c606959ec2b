/**
 * libpq's password file: `PGPASSFILE`, else `~/.pgpass`. Lines are
 * `host:port:database:user:password`, `*` matches anything, `\:` and `\\`
 * escape, the first matching line wins. libpq ignores a file that group or
 * others can read; so does strata, and it says nothing, as libpq does.
 */
import { registerSecret } from "../redact.ts";

export interface PgpassTarget {
  host: string;
  port: string;
  database: string;
  user: string;
}

function fields(line: string): string[] {
  const out: string[] = [];
  let current = "";
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === "\\" && i + 1 < line.length) {
      current += line[++i];
    } else if (ch === ":" && out.length < 4) {
      out.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out;
}

/** The password for `target` from the file's text, or undefined. */
export function matchPgpass(text: string, target: PgpassTarget): string | undefined {
  const wanted = [target.host, target.port, target.database, target.user];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === "" || raw.startsWith("#")) continue;
    const parts = fields(raw);
    if (parts.length !== 5) continue;
    if (wanted.every((value, i) => parts[i] === "*" || parts[i] === value)) return parts[4];
  }
  return undefined;
}

function passfilePath(env: Record<string, string | undefined>): string | undefined {
  if (env.PGPASSFILE) return env.PGPASSFILE;
  const home = env.HOME ?? env.USERPROFILE;
  return home ? `${home}/.pgpass` : undefined;
}

/**
 * The password for a server URL that carries none, when no `PGPASSWORD` is set.
 * The password found is registered as a secret before anything can print it.
 */
export function pgpassPassword(
  url: string,
  socketFolder: string | null,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): string | undefined {
  if (env.PGPASSWORD) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.password || /[?&]password=/i.test(parsed.search)) return undefined;
  const path = passfilePath(env);
  if (!path) return undefined;
  let text: string;
  try {
    const info = Deno.statSync(path);
    if (!info.isFile || (info.mode !== null && (info.mode & 0o077) !== 0)) return undefined;
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  const user = decodeURIComponent(parsed.username) || env.PGUSER || "postgres";
  const host = socketFolder ? "localhost" : parsed.hostname.replace(/^\[|\]$/g, "") || "localhost";
  const password = matchPgpass(text, {
    host,
    port: parsed.port || "5432",
    database: decodeURIComponent(parsed.pathname.slice(1)) || user,
    user,
  });
  registerSecret(password);
  return password;
}

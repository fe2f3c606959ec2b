/**
 * Getting the peer tools onto the machine, once, before anything is timed.
 *
 * - npm: dbmate, node-pg-migrate (with pg) and postgrator-cli go into
 *   `bench/.peers/npm` (ignored by git), at pinned versions, with the npm
 *   client. A second bench run finds them there and installs nothing.
 * - Debian: Alembic (python3-alembic, python3-psycopg2) and Sqitch (sqitch,
 *   libdbd-pg-perl for its PostgreSQL driver; psql is needed anyway) with
 *   apt-get, as root.
 *
 * A peer that cannot be installed is skipped with a message saying why and
 * what to run by hand; the bench goes on without it.
 */
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

/** The cache folder for npm peers (in .gitignore). */
export const PEERS_DIR = fromFileUrl(new URL("./.peers/", import.meta.url));
const NPM_DIR = join(PEERS_DIR, "npm");

/** Pinned, so two runs of the bench compare the same peers. */
export const NPM_PACKAGES: Record<string, string> = {
  "dbmate": "2.36.0",
  "node-pg-migrate": "9.0.0",
  "pg": "8.23.1",
  "postgrator-cli": "9.1.1",
};

/** Absolute path of a file inside an installed npm package. */
export function npmPath(...parts: string[]): string {
  return join(NPM_DIR, "node_modules", ...parts);
}

/** The dbmate binary for this platform, from the `@dbmate/<os>-<arch>` package. */
export function dbmateBinary(): string {
  const arch = ({ x86_64: "x64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch];
  const os = Deno.build.os === "windows" ? "win32" : Deno.build.os;
  return npmPath("@dbmate", `${os}-${arch ?? Deno.build.arch}`, "bin", "dbmate");
}

export interface RunResult {
  ok: boolean;
  out: string;
}

/** Run a command to completion; never throws (a missing program is `ok: false`). */
export async function capture(
  cmd: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  try {
    const result = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      cwd: options.cwd,
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { ok: result.success, out: (decode(result.stdout) + decode(result.stderr)).trim() };
  } catch (error) {
    return { ok: false, out: (error as Error).message };
  }
}

function lastLines(text: string, count = 8): string {
  return text.split("\n").slice(-count).join("\n");
}

async function installedNpmVersion(name: string): Promise<string | null> {
  try {
    const text = await Deno.readTextFile(npmPath(name, "package.json"));
    return String(JSON.parse(text).version);
  } catch {
    return null;
  }
}

let npmDone: Promise<string | null> | null = null;

/**
 * Install the pinned npm peers when any is missing or at another version.
 * One `npm install` for all of them; resolves to null when they are ready, or
 * to the reason they are not. Shared by every npm peer, so it runs once.
 */
export function ensureNpmPeers(install: boolean, log: (text: string) => void) {
  npmDone ??= (async () => {
    const stale: string[] = [];
    for (const [name, version] of Object.entries(NPM_PACKAGES)) {
      if (await installedNpmVersion(name) !== version) stale.push(`${name}@${version}`);
    }
    if (stale.length === 0) return null;
    if (!install) return `not installed in ${NPM_DIR} (--no-install)`;
    log(`installing from npm into ${NPM_DIR}: ${stale.join(" ")}`);
    await Deno.mkdir(NPM_DIR, { recursive: true });
    const dependencies = Object.fromEntries(Object.entries(NPM_PACKAGES));
    await Deno.writeTextFile(
      join(NPM_DIR, "package.json"),
      JSON.stringify({ name: "strata-bench-peers", private: true, dependencies }, null, 2) + "\n",
    );
    const result = await capture(
      ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
      { cwd: NPM_DIR },
    );
    if (!result.ok) return `npm install failed in ${NPM_DIR}:\n${lastLines(result.out)}`;
    for (const [name, version] of Object.entries(NPM_PACKAGES)) {
      if (await installedNpmVersion(name) !== version) {
        return `npm install left ${name} missing or not at ${version}`;
      }
    }
    return null;
  })();
  return npmDone;
}

async function debianVersion(pkg: string): Promise<string | null> {
  const result = await capture(["dpkg-query", "-W", "-f", "${Status}\t${Version}", pkg]);
  if (!result.ok) return null;
  const [status, version] = result.out.split("\t");
  return status === "install ok installed" ? version : null;
}

let aptUpdated = false;

/**
 * Make sure the Debian packages are installed: apt-get install when any is
 * missing (as root only), after an `apt-get update` when the first try fails.
 * Resolves to null when they are, or to the reason they are not.
 */
export async function ensureDebianPackages(
  packages: string[],
  install: boolean,
  log: (text: string) => void,
): Promise<string | null> {
  const missing: string[] = [];
  for (const pkg of packages) if (await debianVersion(pkg) === null) missing.push(pkg);
  if (missing.length === 0) return null;
  const byHand = `apt-get install ${missing.join(" ")}`;
  if (!install) return `Debian packages missing (--no-install): ${byHand}`;
  if ((await capture(["apt-get", "--version"])).ok === false) {
    return `no apt-get on this machine; install by hand: ${missing.join(" ")}`;
  }
  if (Deno.uid() !== 0) return `not root, so not installing; run: sudo ${byHand}`;
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const aptInstall = ["apt-get", "install", "-y", "-q", "--no-install-recommends", ...missing];
  log(`installing Debian packages: ${missing.join(" ")}`);
  let result = await capture(aptInstall, { env });
  if (!result.ok && !aptUpdated) {
    log("apt-get install failed; running apt-get update and trying again");
    aptUpdated = true;
    await capture(["apt-get", "update", "-q"], { env });
    result = await capture(aptInstall, { env });
  }
  if (!result.ok) return `${byHand} failed:\n${lastLines(result.out)}`;
  return null;
}

/** A package's installed Debian version, for the report header. */
export async function debianPackageVersion(pkg: string): Promise<string> {
  return (await debianVersion(pkg)) ?? "not installed";
}

/** The first line a command prints, or null when it fails. */
export async function firstLine(cmd: string[]): Promise<string | null> {
  const result = await capture(cmd);
  return result.ok ? result.out.split("\n")[0].trim() : null;
}

/** An installed npm package's version, for the report header. */
export async function npmVersion(name: string): Promise<string> {
  return (await installedNpmVersion(name)) ?? "not installed";
}

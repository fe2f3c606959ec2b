/**
 * Keeps passwords out of everything strata prints or records. Secrets are
 * registered once (from the URL and PGPASSWORD) and every outgoing line passes
 * through `redact`, so a password echoed back by a driver or a server message
 * is masked too.
 */

const secrets = new Set<string>();
/** Longest first, so a secret that contains another is masked whole. */
let ordered: string[] = [];

/** Remember a secret so `redact` masks it, raw and percent-encoded. */
export function registerSecret(secret: string | undefined): void {
  if (!secret || secret.length < 1) return;
  secrets.add(secret);
  secrets.add(encodeURIComponent(secret));
  try {
    secrets.add(decodeURIComponent(secret));
  } catch {
    // a lone "%" is not an encoding; the raw form is already registered
  }
  ordered = [...secrets].sort((a, b) => b.length - a.length);
}

// The password runs to the last "@" before the host, so an unencoded "@" in it is masked too.
const URL_PASSWORD_REGEXP =
  /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)(\S*)@(?=[^@\s/?#]*(?:[/?#\s"']|$))/gi;
/**
 * `user:password@host` in any shape, a URL or not: `postgres:/u:pw@h`,
 * `postgres:u:pw@h`, `postgresql//u:pw@h`, `u:pw@h`. A token (from a space,
 * quote or bracket) holding a colon, then the last "@" before something that
 * can be a host and port. The user part stops at the first colon and the host
 * is bounded, so a long line cannot make the match slow.
 */
const CREDENTIALS_REGEXP =
  /(?<![^\s"'`(<=,;[{])([^\s"'`<>()@:]*:[^\s"'`<>]*)@(?=[\w.\-[\]:%~]{0,255}(?:[/?#\s"'`,;)\]}]|$))/g;
/** A scheme followed by slashes, well-formed or not: `postgres://`, `postgres:/`, `postgresql//`. */
const SLASHED_SCHEME_REGEXP = /^[a-z][a-z0-9+.-]*(?::\/\/?|\/\/)/i;
const BARE_SCHEME_REGEXP = /^postgres(?:ql)?:/i;
const URL_PASSWORD_PARAM_REGEXP = /([?&]password=)[^&\s#"']*/gi;
// E'' strings take backslash escapes; plain strings and dollar quotes do not.
const PASSWORD_LITERAL_REGEXP =
  /(\bPASSWORD\s+)([Ee]'(?:[^'\\]|\\[\s\S]|'')*'|'(?:[^']|'')*'|\$([A-Za-z_]*)\$[\s\S]*?\$\3\$)/gi;
const PASSWORD_PARAM_REGEXP = /(\bpassword\s*=\s*)(\S+)/gi;

/**
 * The password part of `credentials` (what comes before the "@") masked.
 * Where the shape leaves it open which colon ends the user name, more is
 * masked, never less: `postgres:pw` could be user "postgres" with password "pw".
 */
function maskCredentials(credentials: string): string {
  const slashed = SLASHED_SCHEME_REGEXP.exec(credentials)?.[0];
  const scheme = slashed ?? BARE_SCHEME_REGEXP.exec(credentials)?.[0] ?? "";
  const rest = credentials.slice(scheme.length);
  const colon = rest.indexOf(":");
  if (colon >= 0) return `${scheme}${rest.slice(0, colon + 1)}***`;
  // `scheme://user`: no password. `postgres:x`: x may be one.
  return slashed || !scheme ? credentials : `${scheme}***`;
}

/** Mask the password of a connection URL, also of a malformed one, and of any `user:password@host`. */
export function redactUrl(url: string): string {
  return url.replace(URL_PASSWORD_REGEXP, "$1***@")
    .replace(CREDENTIALS_REGEXP, (_, credentials: string) => `${maskCredentials(credentials)}@`)
    .replace(URL_PASSWORD_PARAM_REGEXP, "$1***");
}

/** Mask `PASSWORD '...'` literals in SQL text. */
export function maskPasswordLiterals(sql: string): string {
  return sql.replace(PASSWORD_LITERAL_REGEXP, "$1'***'");
}

// Text without an "@" or the word password has nothing the patterns could mask.
const MAYBE_SECRET_REGEXP = /@|password/i;

/** Everything strata writes passes through here. */
export function redact(text: string): string {
  const masked = MAYBE_SECRET_REGEXP.test(text)
    ? maskPasswordLiterals(redactUrl(text)).replace(PASSWORD_PARAM_REGEXP, "$1***")
    : text;
  return redactSecrets(masked);
}

/**
 * Only the registered secrets (the configured passwords). For the SQL script
 * that --sql prints: masking its literals would make it create wrong roles.
 */
export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of ordered) {
    if (out.includes(secret)) out = out.split(secret).join("***");
  }
  return out;
}

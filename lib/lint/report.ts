/**
 * lint's findings for CI: GitHub Actions workflow commands (annotations on
 * the pull request's diff) and SARIF 2.1.0 (code scanning). The text and JSON
 * forms are printed by the command itself.
 */
import { VERSION } from "../version.ts";
import type { Finding } from "./lint.ts";
import { RULES } from "./rules.ts";

/** What `lint --format` accepts. */
export const LINT_FORMATS = ["text", "json", "github", "sarif"] as const;
export type LintFormat = (typeof LINT_FORMATS)[number];

/** A workflow command's message: `%`, CR and LF escaped (GitHub's `escapeData`). */
function escapeData(text: string): string {
  return text.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
}

/** A workflow command's property value: also `:` and `,` (GitHub's `escapeProperty`). */
function escapeProperty(text: string): string {
  return escapeData(text).replaceAll(":", "%3A").replaceAll(",", "%2C");
}

/**
 * One `::error` / `::warning` line per finding, e.g.
 * `::warning file=migrations/x.sql,line=4,col=1,title=strata lint ban-char-field::…`;
 * the message carries why and instead on lines of their own.
 */
export function githubAnnotations(findings: Finding[]): string {
  return findings.map((f) => {
    const properties = [
      `file=${escapeProperty(f.file)}`,
      `line=${f.line}`,
      `col=${f.column}`,
      `title=${escapeProperty(`strata lint ${f.rule}`)}`,
    ].join(",");
    const message = `${f.message}\nwhy: ${f.why}\ninstead: ${f.instead}`;
    return `::${f.severity} ${properties}::${escapeData(message)}\n`;
  }).join("");
}

/** A finding's path as a SARIF URI relative to the working folder (forward slashes, escaped). */
function artifactUri(path: string): string {
  return path.replaceAll("\\", "/").split("/").map(encodeURIComponent).join("/");
}

/** The SARIF 2.1.0 log of one lint run: every rule strata has, and one result per finding. */
export function sarifLog(findings: Finding[]): Record<string, unknown> {
  const index = new Map(RULES.map((rule, i) => [rule.id, i]));
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [{
      tool: {
        driver: {
          name: "strata",
          version: VERSION,
          semanticVersion: VERSION,
          rules: RULES.map((rule) => ({
            id: rule.id,
            name: rule.id,
            shortDescription: { text: rule.what },
            fullDescription: { text: rule.why },
            help: { text: `${rule.why}. Instead: ${rule.instead}` },
            defaultConfiguration: { level: rule.severity },
            properties: { tags: ["postgresql", "migration"] },
          })),
        },
      },
      originalUriBaseIds: { SRCROOT: { uri: "./" } },
      results: findings.map((f) => ({
        ruleId: f.rule,
        ruleIndex: index.get(f.rule),
        level: f.severity,
        message: { text: `${f.message}. Why: ${f.why}. Instead: ${f.instead}` },
        locations: [{
          physicalLocation: {
            artifactLocation: { uri: artifactUri(f.file), uriBaseId: "SRCROOT" },
            region: { startLine: f.line, startColumn: f.column },
          },
          logicalLocations: [{ name: f.revision, kind: "module" }],
        }],
        properties: { revision: f.revision, section: f.section },
      })),
      columnKind: "utf16CodeUnits",
    }],
  };
}

/**
 * Sqitch: `sqitch.plan` lists the changes in deploy order, each with its
 * `[dependencies]`, planned time, planner and note; `deploy/NAME.sql` and
 * `revert/NAME.sql` hold the scripts (a reworked change's older scripts are
 * `NAME@TAG.sql`, TAG being the first tag after it). Parents are the change's
 * dependencies plus the change before it in the plan, since Sqitch deploys in
 * plan order. psql runs each script: statement by statement unless the script
 * wraps itself in `BEGIN … COMMIT`, the wrapper every Sqitch template writes.
 * `verify/` scripts are not imported.
 */
import { join } from "node:path";
import {
  type Finding,
  type ImportedRevision,
  listFiles,
  malformed,
  readSource,
  type SourceTool,
} from "./source.ts";
import { usage } from "../errors.ts";

const CHANGE_REGEXP =
  /^([+-]?)([^\s[\]@#:]+)\s+(?:\[([^\]]*)\]\s*)?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\s+(.*?)\s*<([^>]*)>\s*(?:#\s?(.*))?$/;
const TAG_REGEXP = /^@([^\s@#:]+)\s+(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\s+.*<[^>]*>/;

interface Change {
  name: string;
  line: number;
  requires: string[];
  time: Date;
  note: string;
  /** Tags given right after this change (or after later changes, up to the next change). */
  index: number;
}

/** Settings of sqitch.conf that move the plan or the script folders. */
async function config(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let text: string;
  try {
    text = await readSource(dir, "sqitch.conf");
  } catch {
    return out;
  }
  let section = "";
  for (const line of text.split("\n")) {
    const header = /^\s*\[\s*([^\]]+?)\s*\]/.exec(line);
    if (header) section = header[1].replace(/\s+/g, " ");
    const setting = /^\s*(top_dir|plan_file|deploy_dir|revert_dir)\s*=\s*(.*?)\s*$/.exec(line);
    if (setting && (section === "core" || section === 'engine "pg"')) {
      if (section === 'engine "pg"' || !(setting[1] in out)) out[setting[1]] = setting[2];
    }
  }
  return out;
}

export const sqitch: SourceTool = {
  name: "sqitch",
  layout: "the Sqitch project folder (sqitch.plan, deploy/, revert/)",
  async read(dir) {
    const settings = await config(dir);
    const top = settings.top_dir ?? ".";
    const planFile = settings.plan_file ?? join(top, "sqitch.plan");
    const deployDir = settings.deploy_dir ?? join(top, "deploy");
    const revertDir = settings.revert_dir ?? join(top, "revert");
    const planPath = join(dir, planFile);
    try {
      await Deno.stat(planPath);
    } catch {
      throw usage(
        `No ${planFile} in "${dir}"`,
        "Name the Sqitch project folder (the one with sqitch.plan)",
      );
    }
    const plan = await readSource(dir, planFile);
    let project = "";
    const changes: Change[] = [];
    const tags: Array<{ name: string; after: number }> = [];
    for (const [i, raw] of plan.split("\n").entries()) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      if (line.startsWith("%")) {
        const pragma = /^%\s*project\s*=\s*(\S+)/.exec(line);
        if (pragma) project = pragma[1];
        continue;
      }
      const tag = TAG_REGEXP.exec(line);
      if (tag) {
        if (changes.length === 0) throw malformed(planPath, i + 1, "A tag before any change");
        tags.push({ name: tag[1], after: changes.length - 1 });
        continue;
      }
      const change = CHANGE_REGEXP.exec(line);
      if (!change) {
        throw malformed(planPath, i + 1, "Not a Sqitch plan line (change, tag or pragma)");
      }
      if (change[1] === "-") {
        throw malformed(
          planPath,
          i + 1,
          `A revert entry ("-${change[2]}"): not supported by the import`,
        );
      }
      const time = new Date(change[4]);
      if (Number.isNaN(time.getTime())) {
        throw malformed(planPath, i + 1, `Not a valid planned time "${change[4]}"`);
      }
      changes.push({
        name: change[2],
        line: i + 1,
        requires: (change[3] ?? "").split(/\s+/).filter(Boolean),
        time,
        note: (change[7] ?? "").trim(),
        index: changes.length,
      });
    }
    if (changes.length === 0) throw malformed(planPath, 1, "The plan lists no changes");

    // A reworked change's older scripts carry the first tag after it.
    const scriptName = (change: Change): string => {
      const reworked = changes.some((c) => c.index > change.index && c.name === change.name);
      if (!reworked) return change.name;
      const tag = tags.find((t) => t.after >= change.index);
      if (!tag) {
        throw malformed(
          planPath,
          change.line,
          `Change "${change.name}" is reworked without a tag between`,
        );
      }
      return `${change.name}@${tag.name}`;
    };
    const resolve = (change: Change, spec: string): Change | null => {
      let name = spec;
      const colon = name.indexOf(":");
      if (colon >= 0) {
        if (name.slice(0, colon) !== project) return null;
        name = name.slice(colon + 1);
      }
      const [base, tagName] = name.split("@");
      let limit = change.index - 1;
      if (tagName !== undefined) {
        const tag = tags.find((t) => t.name === tagName);
        if (!tag) throw malformed(planPath, change.line, `Unknown tag "@${tagName}" in "${spec}"`);
        limit = Math.min(limit, tag.after);
      }
      for (let i = limit; i >= 0; i--) if (changes[i].name === base) return changes[i];
      throw malformed(
        planPath,
        change.line,
        `Change "${change.name}" requires "${spec}", not earlier in the plan`,
      );
    };

    const findings: Finding[] = [];
    const used = new Set<string>();
    const revisions: ImportedRevision[] = [];
    for (const change of changes) {
      const script = scriptName(change);
      const deployRel = join(deployDir, `${script}.sql`);
      const revertRel = join(revertDir, `${script}.sql`);
      let up: string;
      try {
        up = await readSource(dir, deployRel);
      } catch {
        throw malformed(
          planPath,
          change.line,
          `No deploy script ${deployRel} for change "${change.name}"`,
        );
      }
      let down: string | null = null;
      try {
        down = await readSource(dir, revertRel);
        used.add(revertRel);
      } catch {
        // no revert script: the change cannot be reverted
      }
      used.add(deployRel);
      for (
        const [label, text, rel] of [["deploy", up, deployRel], ["revert", down ?? "", revertRel]]
      ) {
        const meta = text.split("\n").findIndex((l) => /^\s*\\/.test(l));
        if (meta >= 0) {
          throw malformed(
            join(dir, rel),
            meta + 1,
            `A psql meta-command in the ${label} script: strata sends SQL to the server, not to psql`,
            "Rewrite it in SQL (or remove it), then import again",
          );
        }
      }
      const notes: string[] = [];
      const parents: string[] = [];
      for (const spec of change.requires) {
        if (spec.startsWith("!")) {
          notes.push(`conflict "${spec}" is not kept: strata has no conflicts`);
          continue;
        }
        const target = resolve(change, spec);
        if (!target) {
          notes.push(`dependency "${spec}" on another project is not kept`);
          continue;
        }
        parents.push(String(target.index));
      }
      if (change.index > 0) parents.push(String(change.index - 1));
      revisions.push({
        key: String(change.index),
        version: script,
        name: change.name,
        message: change.note || change.name.replace(/[_-]+/g, " "),
        files: [deployRel, ...(down !== null ? [revertRel] : [])],
        time: change.time,
        parents: [...new Set(parents)],
        up,
        down,
        noTransaction: false,
        autocommitUnlessWrapped: true,
        notes,
      });
    }
    for (const file of await listFiles(dir, true)) {
      if (used.has(file) || file === planFile || file === "sqitch.conf") continue;
      findings.push({
        file,
        status: "ignored",
        reason: file.startsWith(join(top, "verify")) || file.startsWith("verify")
          ? "a Sqitch verify script: strata verify proves each down instead"
          : "not a script the plan names",
      });
    }
    return { revisions, findings };
  },
};

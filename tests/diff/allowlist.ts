// Reads the machine-readable table of docs/diff-allowlist.md: the differences between kiln and
// buildah that are understood and accepted. Every row must carry a reason.
import fs from "node:fs";
import type { Difference } from "./compare.ts";

export interface AllowEntry {
  /** case name or "*" */
  caseName: string;
  /** "/path", "/dir/**" (the dir's subtree, not the dir), or a config key like "config.Labels.x" */
  target: string;
  /** only-buildah | only-kiln | differs | * */
  kind: string;
  reason: string;
}

const KINDS = new Set(["only-buildah", "only-kiln", "differs", "*"]);

/** Rows of the first markdown table whose header is `case | path-or-field | kind | reason`. */
export function parseAllowList(markdown: string): AllowEntry[] {
  const rows = markdown.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("|"));
  const cells = (l: string) => l.slice(1, l.endsWith("|") ? -1 : undefined).split("|").map((c) => c.trim().replace(/^`|`$/g, ""));
  const head = rows.findIndex((r) => cells(r).join(",") === "case,path-or-field,kind,reason");
  if (head < 0) throw new Error("allow-list: no table with header `| case | path-or-field | kind | reason |`");
  const out: AllowEntry[] = [];
  for (const r of rows.slice(head + 2)) {
    const [caseName, target, kind, reason] = cells(r);
    if (!caseName || !target || !KINDS.has(kind ?? "") || !reason) throw new Error(`allow-list: bad row (need case, path-or-field, a kind in ${[...KINDS].join("/")}, and a reason): ${r}`);
    out.push({ caseName, target, kind, reason });
  }
  return out;
}

export function loadAllowList(file: string): AllowEntry[] {
  return parseAllowList(fs.readFileSync(file, "utf8"));
}

export function isAllowed(d: Difference, caseName: string, list: AllowEntry[]): AllowEntry | undefined {
  return list.find((e) => {
    if (e.caseName !== "*" && e.caseName !== caseName) return false;
    if (e.kind !== "*" && e.kind !== d.kind) return false;
    if (e.target.endsWith("/**")) return d.key.startsWith(e.target.slice(0, -2));
    return e.target === d.key;
  });
}

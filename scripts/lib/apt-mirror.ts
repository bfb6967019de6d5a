// The Debian mirror this machine already uses, read from /etc/apt at run time so no mirror host
// name is ever written into the repository (CI machines use different mirrors).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface AptSource {
  uri: string;
  suites: string[];
  components: string[];
  file: string;
}

/** All enabled `deb` sources from sources.list, sources.list.d/*.list and deb822 *.sources files. */
export function aptSources(root = "/etc/apt"): AptSource[] {
  const out: AptSource[] = [];
  const oneLine = join(root, "sources.list");
  if (existsSync(oneLine)) out.push(...parseOneLine(readFileSync(oneLine, "utf8"), oneLine));
  const dir = join(root, "sources.list.d");
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      const file = join(dir, name);
      if (name.endsWith(".list")) out.push(...parseOneLine(readFileSync(file, "utf8"), file));
      else if (name.endsWith(".sources")) out.push(...parseDeb822(readFileSync(file, "utf8"), file));
    }
  }
  return out;
}

export function parseOneLine(text: string, file: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const m = line.match(/^(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/);
    if (!m || m[1] !== "deb") continue;
    out.push({ uri: m[2]!, suites: [m[3]!], components: m[4]!.split(/\s+/).filter(Boolean), file });
  }
  return out;
}

export function parseDeb822(text: string, file: string): AptSource[] {
  const out: AptSource[] = [];
  const lines = text.split("\n").filter((l) => !l.startsWith("#"));
  for (const stanza of lines.join("\n").split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let key = "";
    for (const line of stanza.split("\n")) {
      if (/^\s/.test(line) && key) {
        fields.set(key, `${fields.get(key)} ${line.trim()}`);
        continue;
      }
      const m = line.match(/^([A-Za-z0-9-]+):\s*(.*)$/);
      if (m) {
        key = m[1]!.toLowerCase();
        fields.set(key, m[2]!.trim());
      }
    }
    const words = (k: string) => (fields.get(k) ?? "").split(/\s+/).filter(Boolean);
    if (!words("types").includes("deb")) continue;
    if ((fields.get("enabled") ?? "yes").toLowerCase() === "no") continue;
    for (const uri of words("uris")) {
      out.push({ uri, suites: words("suites"), components: words("components"), file });
    }
  }
  return out;
}

/** Mirror URI serving `suite` (e.g. bookworm). KILN_DEBIAN_MIRROR overrides. */
export function debianMirror(suite: string, root = "/etc/apt"): string {
  const override = process.env.KILN_DEBIAN_MIRROR;
  if (override) return override;
  const hit = aptSources(root).find((s) => s.suites.includes(suite) && s.components.includes("main"));
  if (!hit) {
    throw new Error(`no apt source for suite ${suite} with component main in ${root} (set KILN_DEBIAN_MIRROR to a Debian mirror URL)`);
  }
  return hit.uri.replace(/\/+$/, "");
}

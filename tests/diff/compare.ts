// The comparator of the differential test: two unpacked images (file tree + config) in, a list of
// readable differences out. mtimes are ignored (they are build times); everything else that ends up
// in an image is compared: type, mode incl. setuid/setgid/sticky, owner, content, link target,
// device numbers, hardlink groups, and the runtime fields of the config.
import fs from "node:fs";
import { createHash } from "node:crypto";
import { typeOf } from "../fs/tree.ts";

export interface Node {
  type: string;
  mode?: string;
  uid: number;
  gid: number;
  sha?: string;
  link?: string;
  rdev?: number;
  /** first path (in sorted walk order) of the file's hardlink group; unset for nlink == 1 */
  group?: string;
}

export type Tree = Map<string, Node>;

/** Subset of the image config that changes how a container runs. */
export interface RunConfig {
  User?: string;
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, unknown>;
  Volumes?: Record<string, unknown>;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: Record<string, unknown>;
  Shell?: string[];
  OnBuild?: string[];
}

export interface Difference {
  /** "/path" for the file tree, "config.Field" or "config.Labels.KEY" / "config.Env.NAME" for the config */
  key: string;
  kind: "only-buildah" | "only-kiln" | "differs";
  text: string;
}

/** Walks root in sorted order; keys are absolute paths inside the image ("/" for the root). */
export function captureTree(root: string): Tree {
  const out: Tree = new Map();
  const groups = new Map<number, string>();
  const visit = (rel: string) => {
    const host = root + rel;
    const st = fs.lstatSync(host);
    const n: Node = { type: typeOf(st), uid: st.uid, gid: st.gid };
    // Linux symlinks are always 0777, so their mode carries no information.
    if (n.type !== "symlink") n.mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
    if (n.type === "symlink") n.link = fs.readlinkSync(host);
    if (n.type === "file") {
      n.sha = createHash("sha256").update(fs.readFileSync(host)).digest("hex").slice(0, 16);
      if (st.nlink > 1) {
        if (!groups.has(st.ino)) groups.set(st.ino, rel);
        n.group = groups.get(st.ino);
      }
    }
    if (n.type === "char" || n.type === "block") n.rdev = st.rdev;
    out.set(rel || "/", n);
    if (n.type === "dir") for (const c of fs.readdirSync(host).sort()) visit(`${rel}/${c}`);
  };
  visit("");
  return out;
}

function describe(n: Node): string {
  const parts = [n.type];
  if (n.mode) parts.push(n.mode);
  parts.push(`${n.uid}:${n.gid}`);
  if (n.link !== undefined) parts.push(`-> ${n.link}`);
  if (n.sha) parts.push(`sha ${n.sha}`);
  if (n.group) parts.push(`hardlink of ${n.group}`);
  if (n.rdev !== undefined) parts.push(`rdev ${n.rdev}`);
  return parts.join(" ");
}

export function diffTrees(buildah: Tree, kiln: Tree): Difference[] {
  const d: Difference[] = [];
  const paths = [...new Set([...buildah.keys(), ...kiln.keys()])].sort();
  for (const p of paths) {
    const a = buildah.get(p);
    const b = kiln.get(p);
    if (!b) d.push({ key: p, kind: "only-buildah", text: `${p}: only in buildah (${describe(a!)})` });
    else if (!a) d.push({ key: p, kind: "only-kiln", text: `${p}: only in kiln (${describe(b)})` });
    else if (describe(a) !== describe(b)) d.push({ key: p, kind: "differs", text: `${p}:\n    buildah: ${describe(a)}\n    kiln:    ${describe(b)}` });
  }
  return d;
}

// null, [], {} and "" all mean "not set" to a runtime; builders differ in which one they write.
function norm(v: unknown): unknown {
  if (v === null || v === undefined || v === "") return undefined;
  if (Array.isArray(v)) return v.length ? v : undefined;
  if (typeof v === "object") {
    const o = Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, norm(x)]).filter(([, x]) => x !== undefined && x !== 0));
    return Object.keys(o).length ? Object.fromEntries(Object.entries(o).sort(([x], [y]) => (x < y ? -1 : 1))) : undefined;
  }
  return v;
}

function envMap(env: string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const i = e.indexOf("=");
    m.set(i < 0 ? e : e.slice(0, i), i < 0 ? "" : e.slice(i + 1));
  }
  return m;
}

function diffMap(prefix: string, a: Map<string, unknown>, b: Map<string, unknown>, d: Difference[]): void {
  for (const k of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = JSON.stringify(a.get(k));
    const y = JSON.stringify(b.get(k));
    const key = `${prefix}.${k}`;
    if (!b.has(k)) d.push({ key, kind: "only-buildah", text: `${key}: only in buildah (${x})` });
    else if (!a.has(k)) d.push({ key, kind: "only-kiln", text: `${key}: only in kiln (${y})` });
    else if (x !== y) d.push({ key, kind: "differs", text: `${key}: buildah ${x} / kiln ${y}` });
  }
}

// Ports and volumes are sets: only their keys mean something (the values are always {}).
function keysOf(f: keyof RunConfig, v: unknown): unknown {
  return (f === "ExposedPorts" || f === "Volumes") && v && typeof v === "object" ? Object.keys(v).sort() : v;
}

const SIMPLE: (keyof RunConfig)[] = ["User", "Cmd", "Entrypoint", "WorkingDir", "ExposedPorts", "Volumes", "StopSignal", "Healthcheck", "Shell", "OnBuild"];

export function diffConfigs(buildah: RunConfig, kiln: RunConfig): Difference[] {
  const d: Difference[] = [];
  // Per variable / per label, so an allow-list entry can name exactly one.
  diffMap("config.Env", envMap(buildah.Env), envMap(kiln.Env), d);
  diffMap("config.Labels", new Map(Object.entries(buildah.Labels ?? {})), new Map(Object.entries(kiln.Labels ?? {})), d);
  for (const f of SIMPLE) {
    const x = norm(keysOf(f, buildah[f]));
    const y = norm(keysOf(f, kiln[f]));
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    const key = `config.${f}`;
    const kind = y === undefined ? "only-buildah" : x === undefined ? "only-kiln" : "differs";
    d.push({ key, kind, text: `${key}: buildah ${JSON.stringify(x) ?? "unset"} / kiln ${JSON.stringify(y) ?? "unset"}` });
  }
  return d;
}

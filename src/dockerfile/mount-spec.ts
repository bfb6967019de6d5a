// `RUN --mount=…` values: parsed into typed specs with BuildKit's option names, aliases and defaults
// (BuildKit's Dockerfile reference, "RUN --mount"). Pure: no file system, no stages; the planner
// (src/executor/run-mounts.ts) turns specs into host paths; the Dockerfile checker (commands.ts)
// parses every value so a bad one fails before the build starts. Errors are plain messages; the caller
// adds the Dockerfile's file:line.

export type CacheSharing = "shared" | "private" | "locked";

export interface BindSpec {
  type: "bind";
  target: string;
  /** Stage index/name or image; undefined = the build context. */
  from?: string;
  /** Path inside `from` (default its root). */
  source: string;
  /** rw: writes are allowed and thrown away after the RUN. */
  readwrite: boolean;
}

export interface CacheSpec {
  type: "cache";
  target: string;
  /** Default: the target. */
  id: string;
  readonly: boolean;
  sharing: CacheSharing;
  from?: string;
  source: string;
  /** For a new cache directory: default 0755, 0:0. */
  mode: number;
  uid: number;
  gid: number;
}

export interface TmpfsSpec {
  type: "tmpfs";
  target: string;
  /** Bytes; undefined = the kernel's default. */
  size?: number;
}

export interface SecretSpec {
  type: "secret";
  /** Default: basename of the target. */
  id: string;
  /** File path; default /run/secrets/<id> unless only `env` is given. */
  target?: string;
  /** Environment variable that receives the value. */
  env?: string;
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

export interface SshSpec {
  type: "ssh";
  /** Default "default". */
  id: string;
  /** Default /run/buildkit/ssh_agent.<N>, N counting the RUN's ssh mounts from 0. */
  target: string;
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

export type MountSpec = BindSpec | CacheSpec | TmpfsSpec | SecretSpec | SshSpec;
export type MountType = MountSpec["type"];

const TYPES: readonly MountType[] = ["bind", "cache", "tmpfs", "secret", "ssh"];

/** Canonical option name for each spelling BuildKit accepts. */
const ALIASES: Record<string, string> = {
  type: "type", target: "target", dst: "target", destination: "target", source: "source", src: "source",
  from: "from", ro: "readonly", readonly: "readonly", rw: "readwrite", readwrite: "readwrite", id: "id",
  sharing: "sharing", mode: "mode", uid: "uid", gid: "gid", size: "size", required: "required", env: "env",
};

/** Options each type takes (canonical names, besides `type`). */
const OPTIONS: Record<MountType, readonly string[]> = {
  bind: ["target", "source", "from", "readonly", "readwrite"],
  cache: ["target", "id", "readonly", "readwrite", "sharing", "from", "source", "mode", "uid", "gid"],
  tmpfs: ["target", "size"],
  secret: ["id", "target", "env", "required", "mode", "uid", "gid"],
  ssh: ["id", "target", "required", "mode", "uid", "gid"],
};

const BOOLEAN = new Set(["readonly", "readwrite", "required"]);

/** Split a CSV record the way Go's encoding/csv does for one line (BuildKit reads --mount with it). */
export function splitCsv(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`unterminated quote in "${text}"`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
      if (i < text.length && text[i] !== ",") throw new Error(`extraneous character after a quoted field in "${text}"`);
    } else {
      const end = text.indexOf(",", i);
      field = text.slice(i, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end;
    }
    out.push(field);
    if (i >= text.length) return out;
    i++; // the comma
  }
}

function parseBool(name: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new Error(`invalid value "${value}" for mount option ${name} (use true or false)`);
}

function parseId(name: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new Error(`invalid ${name} "${value}" (a number)`);
  return Number(value);
}

function parseMode(value: string): number {
  if (!/^[0-7]{1,4}$/.test(value)) throw new Error(`invalid mode "${value}" (octal, e.g. 0755)`);
  return parseInt(value, 8);
}

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** tmpfs size: bytes or a number with k/m/g/t (binary, as docker's RAMInBytes). */
export function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(value.trim());
  if (!m) throw new Error(`invalid size "${value}" (e.g. 64m)`);
  return Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

/**
 * One --mount value. `sshIndex` numbers the ssh mounts of the RUN (default targets differ).
 * Throws Error naming the bad option.
 */
export function parseMountSpec(raw: string, sshIndex = 0, expand?: (value: string) => string): MountSpec {
  const opts = new Map<string, string | undefined>();
  let type: MountType = "bind";
  for (const field of splitCsv(raw)) {
    const f = field.trim();
    if (f === "") continue;
    const eq = f.indexOf("=");
    const key = (eq < 0 ? f : f.slice(0, eq)).trim().toLowerCase();
    const given = eq < 0 ? undefined : f.slice(eq + 1).trim();
    // Values take ARG/ENV variables as in BuildKit; from= was already resolved with the global ARGs.
    const value = given !== undefined && expand && key !== "from" ? expand(given) : given;
    const name = ALIASES[key];
    if (!name) throw new Error(`unknown mount option "${key}" in --mount=${raw}`);
    if (name === "type") {
      if (value === undefined || !(TYPES as readonly string[]).includes(value.toLowerCase())) {
        throw new Error(`unsupported mount type "${value ?? ""}" in --mount=${raw} (use ${TYPES.join(", ")})`);
      }
      type = value.toLowerCase() as MountType;
      continue;
    }
    if (value === undefined && !BOOLEAN.has(name)) throw new Error(`mount option ${key} needs a value in --mount=${raw}`);
    opts.set(name, value);
  }
  for (const name of opts.keys()) {
    if (!OPTIONS[type].includes(name)) throw new Error(`mount option "${name}" is not valid for type=${type} in --mount=${raw}`);
  }
  const str = (k: string) => opts.get(k);
  const has = (k: string) => opts.has(k);
  const bool = (k: string) => has(k) && parseBool(k, str(k));
  const num = (k: string, d: number) => (has(k) ? parseId(k, str(k)!) : d);
  const mode = (d: number) => (has("mode") ? parseMode(str("mode")!) : d);
  const target = str("target");
  const needTarget = () => {
    if (!target) throw new Error(`mount type=${type} needs a target in --mount=${raw}`);
    return target;
  };
  switch (type) {
    case "bind":
      return { type, target: needTarget(), from: str("from") || undefined, source: str("source") ?? "/", readwrite: bool("readwrite") && !bool("readonly") };
    case "cache": {
      const sharing = (str("sharing") ?? "shared").toLowerCase();
      if (sharing !== "shared" && sharing !== "private" && sharing !== "locked") throw new Error(`invalid sharing "${sharing}" in --mount=${raw} (use shared, private or locked)`);
      const t = needTarget();
      return {
        type, target: t, id: str("id") || t, readonly: bool("readonly"), sharing, from: str("from") || undefined, source: str("source") ?? "/",
        mode: mode(0o755), uid: num("uid", 0), gid: num("gid", 0),
      };
    }
    case "tmpfs":
      return { type, target: needTarget(), size: has("size") ? parseSize(str("size")!) : undefined };
    case "secret": {
      const env = str("env") || undefined;
      const id = str("id") || (target ? target.replace(/\/+$/, "").split("/").pop()! : "");
      if (!id) throw new Error(`mount type=secret needs an id or a target in --mount=${raw}`);
      if (env !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(env)) throw new Error(`invalid env name "${env}" in --mount=${raw}`);
      return {
        type, id, target: target || (env ? undefined : `/run/secrets/${id}`), env, required: bool("required"),
        mode: mode(0o400), uid: num("uid", 0), gid: num("gid", 0),
      };
    }
    case "ssh":
      return {
        type, id: str("id") || "default", target: target || `/run/buildkit/ssh_agent.${sshIndex}`, required: bool("required"),
        mode: mode(0o600), uid: num("uid", 0), gid: num("gid", 0),
      };
  }
}

/** Every --mount of a RUN; `where` ("Dockerfile:3"), when given, prefixes errors. Two mounts on one target are an error. */
export function parseMountSpecs(raws: readonly string[], where = "", expand?: (value: string) => string): MountSpec[] {
  const at = (m: string) => (where ? `${where}: ${m}` : m);
  const specs: MountSpec[] = [];
  let ssh = 0;
  for (const raw of raws) {
    try {
      const s = parseMountSpec(raw, ssh, expand);
      if (s.type === "ssh") ssh++;
      specs.push(s);
    } catch (e) {
      throw new Error(at((e as Error).message));
    }
  }
  const seen = new Set<string>();
  for (const s of specs) {
    if (s.target === undefined) continue;
    const t = s.target.replace(/\/+$/, "") || "/";
    if (seen.has(t)) throw new Error(at(`two mounts on ${t}`));
    seen.add(t);
  }
  return specs;
}

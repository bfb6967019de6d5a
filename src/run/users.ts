// USER resolution against the rootfs's own /etc/passwd and /etc/group, following Docker (runc's
// GetExecUser): names must exist, numeric ids need not; supplementary groups come from /etc/group
// only when no group was given explicitly.
import { readFileSync } from "node:fs";
import { KilnError } from "../util/errors.ts";
import { resolveInRoot } from "./root-path.ts";

export interface ExecUser {
  uid: number;
  gid: number;
  /** Supplementary group ids. */
  groups: number[];
  /** Home directory from passwd ("/" when the user has no entry), for a missing HOME. */
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(":");
    if (f.length < 4 || line.startsWith("#")) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!isId(f[2]!) || !isId(f[3]!)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] || "/" });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(":");
    if (f.length < 3 || line.startsWith("#") || !isId(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? "").split(",").filter((m) => m !== "") });
  }
  return out;
}

function isId(s: string): boolean {
  return /^\d+$/.test(s) && Number(s) <= 0xfffffffe;
}

function readInRoot(rootfs: string, path: string): string | null {
  try {
    return readFileSync(resolveInRoot(rootfs, path), "utf8");
  } catch {
    return null;
  }
}

/** Resolve a USER value ("", "name", "uid", "uid:gid", "name:group", ...) inside `rootfs`. */
export function resolveUser(rootfs: string, user: string | undefined): ExecUser {
  const spec = (user ?? "").trim() || "root";
  const colon = spec.indexOf(":");
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? "" : spec.slice(colon + 1);
  const passwdText = readInRoot(rootfs, "/etc/passwd");
  const groupText = readInRoot(rootfs, "/etc/group");
  const passwd = passwdText === null ? [] : parsePasswd(passwdText);
  const groups = groupText === null ? [] : parseGroup(groupText);

  let entry: PasswdEntry | undefined;
  let uid: number;
  if (isId(userPart)) {
    uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      // root works even in a rootfs without /etc/passwd (scratch-like images).
      if (userPart === "root") entry = { name: "root", uid: 0, gid: 0, home: "/root" };
      else throw new KilnError(`unable to find user ${userPart}: no matching entries in passwd file`);
    }
    uid = entry.uid;
  }

  let gid = entry?.gid ?? 0;
  let supplementary: number[] = [];
  if (groupPart !== "") {
    if (isId(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new KilnError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  } else if (entry) {
    const name = entry.name;
    supplementary = groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid);
  }
  // Like runc (and so Docker and buildah), the primary group is also a supplementary group.
  return { uid, gid, groups: [...new Set([gid, ...supplementary])], home: entry?.home ?? "/" };
}

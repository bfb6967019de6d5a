// --chown and --chmod values. --chown follows BuildKit's readUser: a numeric user alone means
// uid=gid=N, a name alone takes its primary group from /etc/passwd; unlike BuildKit (which
// silently falls back to 0) an unknown name is an error, as Docker's classic builder and kaniko do.
import { readFileSync } from "node:fs";
import { parseGroup, parsePasswd } from "../../run/users.ts";
import { resolveInRoot } from "../../run/root-path.ts";
import { KilnError } from "../../util/errors.ts";

export interface Owner {
  uid: number;
  gid: number;
}

const isId = (s: string) => /^\d+$/.test(s) && Number(s) <= 0xfffffffe;

function readInRoot(rootfs: string, path: string): string | null {
  try {
    return readFileSync(resolveInRoot(rootfs, path), "utf8");
  } catch {
    return null;
  }
}

export function resolveChown(rootfs: string, chown: string): Owner {
  const spec = chown.trim();
  if (spec === "") throw new KilnError(`--chown: empty user`);
  const colon = spec.indexOf(":");
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? "" : spec.slice(colon + 1);
  let uid: number;
  let gid: number;
  if (isId(userPart)) {
    uid = gid = Number(userPart);
  } else {
    const text = readInRoot(rootfs, "/etc/passwd");
    const entry = text === null ? undefined : parsePasswd(text).find((p) => p.name === userPart);
    if (entry) ({ uid, gid } = entry);
    else if (userPart === "root") uid = gid = 0;
    else throw new KilnError(`--chown=${chown}: unable to find user ${userPart}: no matching entries in the image's /etc/passwd`);
  }
  if (groupPart !== "") {
    if (isId(groupPart)) gid = Number(groupPart);
    else {
      const text = readInRoot(rootfs, "/etc/group");
      const g = text === null ? undefined : parseGroup(text).find((x) => x.name === groupPart);
      if (g) gid = g.gid;
      else if (groupPart === "root") gid = 0;
      else throw new KilnError(`--chown=${chown}: unable to find group ${groupPart}: no matching entries in the image's /etc/group`);
    }
  }
  return { uid, gid };
}

// The USER of a RUN without a pre-exec hook: the helper sets its real ids (and groups, gid) to the
// user's but keeps effective uid 0, posix_spawn's RESETIDS makes the child's effective ids the
// real ones, and exec copies them into the saved ids: the command runs as uid/gid/groups with no
// capabilities left. The helper returns to its own ids right after the spawn. glibc applies each
// call to all of the helper's threads.
import * as libc from "../runtime/libc.ts";

interface Ids {
  uid: number;
  gid: number;
  groups: number[];
}

export class Credentials {
  private readonly own: Ids;

  constructor() {
    this.own = { uid: process.getuid!(), gid: process.getgid!(), groups: libc.getgroups() };
  }

  /** Run `spawn` with the real ids set to the user's (nothing to change for the helper's own ids). */
  spawnAs<T>(user: Ids, spawn: () => T): T {
    if (sameIds(user, this.own)) return spawn();
    libc.setgroups(user.groups);
    libc.setresgid(user.gid, user.gid, user.gid);
    libc.setresuid(user.uid, this.own.uid, this.own.uid);
    try {
      return spawn();
    } finally {
      libc.setresuid(this.own.uid, this.own.uid, this.own.uid);
      libc.setresgid(this.own.gid, this.own.gid, this.own.gid);
      libc.setgroups(this.own.groups);
    }
  }
}

function sameIds(a: Ids, b: Ids): boolean {
  return a.uid === b.uid && a.gid === b.gid && a.groups.length === b.groups.length && a.groups.every((g, i) => g === b.groups[i]);
}

// --chmod values: octal (0755) or, since dockerfile 1.14 (moby/buildkit#5734), symbolic as chmod(1)
// writes them: comma-separated clauses `[ugoa]*([-+=]([rwxXst]*|[ugo]))+`. Parsing is pure and
// done once per instruction; the result is applied to each copied file and directory, because
// `X` (execute only for directories or files already executable by someone) and `u=g` copies
// depend on the entry's own mode. An empty "who" means "a": BuildKit has no umask to apply.
import { KilnError } from "../../util/errors.ts";

/** A parsed --chmod: the new permission bits of an entry from its current mode. */
export type ChmodFn = (mode: number, isDir: boolean) => number;

interface Op {
  /** Bits of the classes the clause names (a mask of 0o7777). */
  who: number;
  op: "+" | "-" | "=";
  /** Fixed permission letters, as bits for all classes (masked with `who` later). */
  perm: number;
  /** X: execute for directories or already-executable entries. */
  condExec: boolean;
  /** u, g or o: copy that class's current bits. */
  copy?: "u" | "g" | "o";
}

const WHO: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };
const PERM: Record<string, number> = { r: 0o444, w: 0o222, x: 0o111, s: 0o6000, t: 0o1000 };
const CLAUSE = /^([ugoa]*)((?:[-+=](?:[rwxXst]*|[ugo]))+)$/;

/** Parse --chmod; throws a one-line KilnError naming the value. */
export function parseChmod(chmod: string): ChmodFn {
  if (/^[0-7]{1,4}$/.test(chmod)) {
    const m = parseInt(chmod, 8);
    return () => m;
  }
  const ops: Op[] = [];
  for (const clause of chmod.split(",")) {
    const c = CLAUSE.exec(clause);
    if (!c) throw new KilnError(`--chmod=${chmod}: invalid mode "${clause}"; use octal (0755) or symbolic clauses such as u=rwx,go=rx or +x`);
    let who = 0;
    for (const w of c[1]!) who |= WHO[w]!;
    if (who === 0) who = WHO.a!;
    for (const a of c[2]!.matchAll(/([-+=])([ugo]|[rwxXst]*)/g)) {
      const letters = a[2]!;
      const op: Op = { who, op: a[1] as Op["op"], perm: 0, condExec: false };
      if (letters === "u" || letters === "g" || letters === "o") op.copy = letters;
      else {
        for (const l of letters) {
          if (l === "X") op.condExec = true;
          else op.perm |= PERM[l]!;
        }
      }
      ops.push(op);
    }
  }
  return (mode, isDir) => {
    let m = mode & 0o7777;
    for (const op of ops) {
      let bits = op.perm;
      if (op.condExec && (isDir || (m & 0o111) !== 0)) bits |= 0o111;
      if (op.copy) {
        const shift = op.copy === "u" ? 6 : op.copy === "g" ? 3 : 0;
        const v = (m >> shift) & 7;
        bits = v * 0o111;
      }
      // A class takes its rwx bits; setuid/setgid and sticky only go with u/g and o/a (chmod(1)).
      bits &= op.who;
      if (op.op === "+") m |= bits;
      else if (op.op === "-") m &= ~bits;
      else m = (m & ~(op.who & ~(isDir ? 0o6000 : 0))) | bits;
    }
    return m;
  };
}

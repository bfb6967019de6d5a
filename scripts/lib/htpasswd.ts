// bcrypt htpasswd lines for distribution's htpasswd auth (it accepts bcrypt only).
// openssl passwd cannot do bcrypt and apache2-utils is not installed, so this uses
// Debian python3's `crypt` module (present up to Python 3.12) backed by libxcrypt, which does $2b$.
import { existsSync } from "node:fs";
import { execCapture } from "./exec.ts";

const SCRIPT = [
  "import sys, warnings",
  "warnings.simplefilter('ignore')",
  "import crypt",
  // Cost 4 (the minimum): the registry checks the hash on every request, and these are test passwords.
  "print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))",
].join("\n");

export async function bcryptHash(password: string): Promise<string> {
  // Prefer the distribution's interpreter: a pyenv/uv python on PATH may be 3.13+ without `crypt`.
  const candidates = ["/usr/bin/python3", "python3"].filter((p) => !p.startsWith("/") || existsSync(p));
  let lastErr = "python3 not found";
  for (const py of candidates) {
    const r = await execCapture(py, ["-c", SCRIPT], { input: password }).catch((e: Error) => ({
      code: 127, stdout: "", stderr: e.message,
    }));
    const hash = r.stdout.trim();
    if (r.code === 0 && /^\$2[aby]\$/.test(hash)) return hash;
    lastErr = r.stderr.trim() || `unexpected hash ${JSON.stringify(hash)}`;
  }
  throw new Error(`cannot make a bcrypt hash (needs Debian's python3 with the crypt module: apt-get install python3): ${lastErr}`);
}

export async function htpasswdLine(username: string, password: string): Promise<string> {
  return `${username}:${await bcryptHash(password)}\n`;
}

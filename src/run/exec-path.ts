// Finding the executable inside the chroot with the command's own PATH, like execvp would.
import { statSync } from "node:fs";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function isExecutableFile(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Absolute (or cwd-relative, when it has a slash) path of `file`, or null when not found. */
export function lookPath(file: string, pathVar: string): string | null {
  if (file.includes("/")) return isExecutableFile(file) ? file : null;
  for (const dir of pathVar.split(":")) {
    const candidate = `${dir === "" ? "." : dir}/${file}`;
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

export function envValue(env: string[], name: string): string | undefined {
  const prefix = `${name}=`;
  for (let i = env.length - 1; i >= 0; i--) if (env[i]!.startsWith(prefix)) return env[i]!.slice(prefix.length);
  return undefined;
}

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

/** Path of `file` found in `pathVar`, or null. A name with a slash is returned as is: exec reports its errors. */
export function lookPath(file: string, pathVar: string): string | null {
  if (file.includes("/")) return file;
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

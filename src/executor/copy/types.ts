// The shapes shared by COPY/ADD execution (copyInto) and the layer cache (describeSources).
import type { IgnoreMatcher } from "../../dockerfile/dockerignore.ts";

export interface CopySpec {
  /** Host path of the rootfs being built. Every write resolves inside it. */
  rootfs: string;
  /** Host dir the sources are relative to: the context dir, or another stage's/image's rootfs. */
  sourceRoot: string;
  /** What sourceRoot is, for errors: `stage "builder"`, `image "alpine:3"`; default "the build context". */
  sourceName?: string;
  /** .dockerignore of the context: ignored files do not exist for COPY. Omit for --from. */
  ignore?: IgnoreMatcher;
  /** Sources as written (after variable expansion): paths, wildcards, or (ADD) http(s) URLs. */
  sources: string[];
  /** Heredoc sources (`COPY <<EOF /dest`): written as files named `name`, mode 0644. */
  heredocs?: { name: string; content: string }[];
  dest: string;
  /** Absolute WORKDIR for a relative dest ("/" when unset). */
  workdir: string;
  /** --chown=user[:group], resolved in the rootfs's /etc/passwd and /etc/group. */
  chown?: string;
  /** --chmod: octal or symbolic (chmod.ts), applied to every copied file and directory. */
  chmod?: string;
  isAdd: boolean;
  /** ADD --checksum: sha256:<hex> for URL sources, the commit id for git sources. */
  checksum?: string;
  /** ADD --keep-git-dir: git sources keep their .git directory. */
  keepGitDir?: boolean;
  /** Git sources: the commit the cache key was computed with, per source; the copy must find the same. */
  gitCommits?: Record<string, string>;
  /** --exclude patterns (moby patternmatcher, relative to each source). */
  exclude?: string[];
  /** --parents: keep each source's path (relative to the source root) under dest. */
  parents?: boolean;
  /**
   * Keep the source files' uid/gid when no --chown is given. BuildKit does this for --from
   * (stages/images); context files always arrive as 0:0.
   */
  preserveOwner?: boolean;
  /** Where ADD downloads wait for their checksum before landing in the rootfs (default os.tmpdir()). */
  tmpDir?: string;
}

export interface CopyResult {
  /** Rootfs-absolute, symlink-free paths created or changed (no path is under another). */
  paths: string[];
}

export type SourceType = "file" | "dir" | "symlink" | "url" | "heredoc" | "git";

export interface SourceEntry {
  /**
   * For files: path relative to the source root as it will be named at the destination
   * (a followed top-level symlink keeps its own name). URLs: the URL. Heredocs: "<<name".
   */
  path: string;
  type: SourceType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** "sha256:<hex>" of a file's or heredoc's content; a URL's --checksum when given; "git:<commit>" for git. */
  digest?: string;
  /** Symlink target. */
  link?: string;
  /** Path of the first listed source that is the same file (a hard link; COPY links them too). */
  hardlink?: string;
  /** Seconds since the epoch (COPY preserves it, so it belongs in the cache key). */
  mtime?: number;
}

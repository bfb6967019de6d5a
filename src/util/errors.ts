// Errors a person can act on. The CLI prints `kiln: <message>` for these, never a stack.

/** A failure with a message meant for the user and a process exit code. */
export class KilnError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "KilnError";
  }
}

/**
 * A RUN command exited non-zero. The build exits 1 (as kaniko and docker build); the command's
 * own code is kept here for the JSON log and in the message.
 */
export class CommandFailedError extends KilnError {
  constructor(message: string, readonly commandExitCode: number) {
    super(message, 1);
    this.name = "CommandFailedError";
  }
}

/** Bad command line: exit code 2, like most CLIs. */
export class UsageError extends KilnError {
  constructor(message: string) {
    super(message, 2);
    this.name = "UsageError";
  }
}

/** An error located in a Dockerfile: printed as `FILE:LINE: message`. */
export class DockerfileError extends KilnError {
  constructor(message: string, readonly line: number, readonly file = "Dockerfile") {
    super(`${file}:${line}: ${message}`, 1);
    this.name = "DockerfileError";
  }
}

// Bun words fs errors as Node does ("EACCES: permission denied, copyfile 'a' -> 'b'"), Deno as
// Rust does ("Permission denied (os error 13): copy 'a' -> 'b'"): messages use the errno code.
const ERRNO_TEXT: Record<string, string> = {
  EACCES: "permission denied", EPERM: "operation not permitted", ENOENT: "no such file or directory", EEXIST: "file exists",
  ENOTDIR: "not a directory", EISDIR: "is a directory", ELOOP: "too many levels of symbolic links", ENAMETOOLONG: "file name too long",
  ENOSPC: "no space left on device", EROFS: "read-only file system", EMFILE: "too many open files", EIO: "input/output error",
  EXDEV: "cross-device link", EBUSY: "device or resource busy", ETXTBSY: "text file busy", EDQUOT: "disk quota exceeded",
};

/** "EACCES: permission denied" for an fs error on every runtime; other errors' own message. */
export function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code === "string" && ERRNO_TEXT[code]) return `${code}: ${ERRNO_TEXT[code]}`;
  return (e as Error)?.message ?? String(e);
}

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

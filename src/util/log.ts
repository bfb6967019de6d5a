// Build output for people (text) and machines (--log-format json: one JSON object per line).
// Everything goes to stderr so stdout stays clean for digests and `kiln parse` output.

import { redact as redactText } from "./redact.ts";

export type Level = "error" | "warn" | "info" | "debug" | "trace";
const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

export interface LogEvent {
  event: string;
  [key: string]: unknown;
}

export class Logger {
  constructor(
    readonly level: Level = "info",
    readonly format: "text" | "json" = "text",
    private readonly write: (line: string) => void = (l) => process.stderr.write(l + "\n"),
    private readonly redact: (s: string) => string = redactText,
  ) {}

  enabled(level: Level): boolean {
    return RANK[level] <= RANK[this.level];
  }

  /** A structured event; `text` is what a person sees. */
  emit(level: Level, text: string, ev: LogEvent): void {
    if (!this.enabled(level)) return;
    if (this.format === "json") {
      this.write(this.redact(JSON.stringify({ time: new Date().toISOString(), level, msg: text, ...ev })));
    } else {
      this.write(this.redact(level === "warn" ? `WARN ${text}` : level === "error" ? `ERROR ${text}` : text));
    }
  }

  info(text: string, ev: LogEvent = { event: "info" }): void {
    this.emit("info", text, ev);
  }
  warn(text: string, ev: LogEvent = { event: "warning" }): void {
    this.emit("warn", text, ev);
  }
  debug(text: string, ev: LogEvent = { event: "debug" }): void {
    this.emit("debug", text, ev);
  }

  /** Output of a RUN command, prefixed per line so interleaved steps stay readable. */
  output(prefix: string, chunk: Uint8Array): void {
    if (!this.enabled("info")) return;
    const text = new TextDecoder().decode(chunk);
    if (this.format === "json") {
      this.write(this.redact(JSON.stringify({ time: new Date().toISOString(), level: "info", event: "output", step: prefix, data: text })));
      return;
    }
    for (const line of text.split("\n")) if (line !== "") this.write(this.redact(`${prefix} ${line}`));
  }

  /** A logger whose output hides these secret values. */
  withSecrets(secrets: string[]): Logger {
    if (!secrets.some((s) => s.length >= MIN_SECRET)) return this;
    const redact = (s: string) => maskSecrets(this.redact(s), secrets);
    return new Logger(this.level, this.format, this.write, redact);
  }
}

// Shorter values would mask ordinary words and digits all over the output.
const MIN_SECRET = 4;

/** `text` with every secret value (of at least 4 characters) replaced by "***". */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  return secrets.filter((s) => s.length >= MIN_SECRET).reduce((acc, v) => acc.split(v).join("***"), text);
}

/**
 * The error with secret values masked in its message, for errors that leave the build and are
 * printed by the CLI (not through the logger). The object is kept: class and exit code stay.
 */
export function redactError<E>(e: E, secrets: readonly string[]): E {
  if (e instanceof Error) e.message = maskSecrets(e.message, secrets);
  return e;
}

export function humanSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

const SECRET_NAME = /(_KEY$|TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL)/i;

/** Values of build args whose names look secret (*_KEY, *TOKEN*, *PASSWORD*, *SECRET*): hidden in logs. */
export function secretBuildArgValues(buildArgs: Record<string, string>): string[] {
  return Object.entries(buildArgs).filter(([k, v]) => SECRET_NAME.test(k) && v !== "").map(([, v]) => v);
}

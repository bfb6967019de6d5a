// Build output for people (text) and machines (--log-format json: one JSON object per line).
// Everything goes to stderr so stdout stays clean for digests and `kiln parse` output.

import { redact as redactText } from "./redact.ts";

export type Level = "error" | "warn" | "info" | "debug" | "trace";
const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

export interface LogEvent {
  event: string;
  [key: string]: unknown;
}

/** How text lines look: colour (only ever asked for on a terminal) and a timestamp prefix. */
export interface LogStyle {
  color?: boolean;
  timestamps?: boolean;
}

// A RUN command's output arrives in chunks that can end mid-line: the unfinished tail waits
// here (per step) until its newline, the next log event, or flush().
// The logger that buffered a tail writes it, so it is masked with that logger's secrets.
// Each step has its own streaming decoder, so a UTF-8 character split across chunks survives.
type Pending = Map<string, { text: string; owner: Logger }> & { decoders?: Map<string, TextDecoder> };
// A line that never ends (a progress bar without "\n") is written once it gets this long.
const MAX_PENDING = 64 * 1024;

const COLORS = { warn: "\x1b[33m", error: "\x1b[31m", reset: "\x1b[0m" };

export class Logger {
  private readonly pending: Pending;

  constructor(
    readonly level: Level = "info",
    readonly format: "text" | "json" = "text",
    private readonly write: (line: string) => void = (l) => process.stderr.write(l + "\n"),
    private readonly redact: (s: string) => string = redactText,
    readonly style: LogStyle = {},
    pending?: Pending,
  ) {
    this.pending = pending ?? new Map();
  }

  enabled(level: Level): boolean {
    return RANK[level] <= RANK[this.level];
  }

  /** A structured event; `text` is what a person sees. */
  emit(level: Level, text: string, ev: LogEvent): void {
    if (!this.enabled(level)) return;
    this.flush();
    if (this.format === "json") {
      this.write(this.redact(JSON.stringify({ time: new Date().toISOString(), level, msg: text, ...ev })));
    } else {
      const c = this.style.color && (level === "warn" || level === "error") ? COLORS[level] : "";
      const tag = level === "warn" ? "WARN " : level === "error" ? "ERROR " : "";
      this.line(this.redact(c ? `${c}${tag}${COLORS.reset}${text}` : `${tag}${text}`));
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

  /**
   * Output of a RUN command, prefixed per line (never per chunk, so a line is never split across
   * two prefixes); an unfinished last line waits for the rest of it.
   */
  output(prefix: string, chunk: Uint8Array): void {
    if (!this.enabled("info")) return;
    const decoders = (this.pending.decoders ??= new Map());
    let decoder = decoders.get(prefix);
    if (!decoder) decoders.set(prefix, (decoder = new TextDecoder()));
    const text = (this.pending.get(prefix)?.text ?? "") + decoder.decode(chunk, { stream: true });
    const end = text.lastIndexOf("\n");
    const rest = text.slice(end + 1);
    if (rest.length > MAX_PENDING) {
      this.pending.delete(prefix);
      this.outputLines(prefix, text);
      return;
    }
    if (rest === "") this.pending.delete(prefix);
    else this.pending.set(prefix, { text: rest, owner: this });
    if (end >= 0) this.outputLines(prefix, text.slice(0, end));
  }

  /** Write every unfinished output line (end of a step, end of the build). */
  flush(): void {
    if (this.pending.size === 0) return;
    const all = [...this.pending];
    this.pending.clear();
    for (const [prefix, { text, owner }] of all) owner.outputLines(prefix, text);
  }

  private outputLines(prefix: string, text: string): void {
    for (const line of text.split("\n")) {
      if (line === "") continue;
      if (this.format === "json") {
        this.write(this.redact(JSON.stringify({ time: new Date().toISOString(), level: "info", event: "output", step: prefix, data: line })));
      } else {
        this.line(this.redact(`${prefix} ${line}`));
      }
    }
  }

  /** A text line, with --log-timestamp's prefix. */
  private line(text: string): void {
    this.write(this.style.timestamps ? `${new Date().toISOString()} ${text}` : text);
  }

  /** A logger whose lines are tagged: "[value] " before text lines, a `key` field in JSON ones (e.g. the platform of a multi-platform build). */
  withTag(key: string, value: string): Logger {
    const write = this.format === "json" ? (l: string) => this.write(l.replace(/^\{/, `{${JSON.stringify(key)}:${JSON.stringify(value)},`)) : (l: string) => this.write(`[${value}] ${l}`);
    // Its own unfinished RUN output lines: two platforms' steps share step prefixes.
    return new Logger(this.level, this.format, write, this.redact, this.style);
  }

  /** A logger whose output hides these secret values. */
  withSecrets(secrets: string[]): Logger {
    if (!secrets.some((s) => s.length >= MIN_SECRET)) return this;
    const redact = (s: string) => maskSecrets(this.redact(s), secrets);
    return new Logger(this.level, this.format, this.write, redact, this.style, this.pending);
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

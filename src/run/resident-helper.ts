// The runner's handle on one resident helper process (helper.ts): starts it (as PID 1 of a new PID
// namespace when asked), sends it one RUN at a time, passes the command's output on until the
// RUN's sentinels, and notices when it dies. Abort: SIGTERM to the command, SIGKILL to the helper
// after a grace period.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import { isCompiled, selfCommand } from "../runtime/index.ts";
import { KilnError } from "../util/errors.ts";
import { SentinelSplitter } from "./output-sentinel.ts";
import { HELPER_ENV, HELPER_OPTIONS_ENV, REPLY_FD, type FinalReply, type HelperOptions, type HelperReady, type HelperReply, type HelperRequest } from "./protocol.ts";
import { signalNumber } from "./signals.ts";

export const KILL_GRACE_MS = 1000;
/** After the helper exits, how long its pipes may take to deliver what it wrote before the RUN is judged. */
const DRAIN_MS = 300;

export type StepRequest = Omit<HelperRequest, "id" | "sentinel">;
export type Output = (chunk: Uint8Array, stream: "stdout" | "stderr") => void;
/** The helper's final reply, or how it died before giving one. */
export type StepOutcome = { reply: FinalReply } | { died: { code: number | null; signal: NodeJS.Signals | null } };

interface InFlight {
  id: number;
  out: SentinelSplitter;
  err: SentinelSplitter;
  reply?: FinalReply;
  started?: number;
  abortRequested: boolean;
  settle(o: StepOutcome): void;
}

let nextId = 1;

export class ResidentHelper {
  /** Whether RUNs get namespaces and mounts (false: plain chroot, and `startReason` says why). */
  namespaces: boolean;
  startReason?: string;
  syncSuppressed = false;
  syncReason?: string;
  /** It said it would exit after its last RUN (helper-host.ts threadLeftBehind): a replacement is due. */
  retired = false;
  private readonly child: ChildProcess;
  private readonly control: Writable;
  private readonly streams: Readable[];
  private replyText = "";
  private current?: InFlight;
  private exited?: { code: number | null; signal: NodeJS.Signals | null };
  private readyWait?: { resolve(): void; reject(e: Error): void };
  private earlyStderr = "";

  private constructor(readonly options: HelperOptions) {
    const { child, reason, namespaces } = startProcess(options);
    this.child = child;
    this.namespaces = namespaces;
    this.startReason = reason;
    this.control = child.stdin!;
    const replies = child.stdio[REPLY_FD] as Readable;
    this.streams = [child.stdout!, child.stderr!, replies];
    child.stdout!.on("data", (c: Uint8Array) => this.current?.out.push(c) && this.check());
    child.stderr!.on("data", (c: Uint8Array) => {
      if (this.readyWait) this.earlyStderr = (this.earlyStderr + Buffer.from(c).toString()).slice(-4000);
      if (this.current?.err.push(c)) this.check();
    });
    replies.on("data", (c: Uint8Array) => this.onReplies(Buffer.from(c).toString()));
    this.control.on("error", () => { /* the helper died: its exit event says so */ });
    child.on("error", (e) => this.onExit(null, null, e));
    child.on("exit", (code, signal) => this.onExit(code, signal));
  }

  /** A new helper, once it says it is ready. */
  static async start(options: HelperOptions): Promise<ResidentHelper> {
    const h = new ResidentHelper(options);
    await new Promise<void>((resolve, reject) => (h.readyWait = { resolve, reject }));
    h.idle();
    return h;
  }

  get alive(): boolean {
    return this.exited === undefined;
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  /** Run one step; resolves when its reply and both sentinels are in, or the helper died. */
  run(step: StepRequest, output: Output, signal?: AbortSignal): Promise<StepOutcome> {
    if (!this.alive) return Promise.resolve({ died: this.exited! });
    if (this.current) throw new Error("internal: the run helper is busy");
    this.ref();
    const id = nextId++;
    const sentinel = `\0kiln-run-end-${randomBytes(16).toString("hex")}\0`;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      const f = this.current;
      if (!f || f.id !== id) return;
      f.abortRequested = true;
      this.terminateCommand();
      killTimer = setTimeout(() => this.kill(), KILL_GRACE_MS);
    };
    return new Promise<StepOutcome>((resolve) => {
      this.current = {
        id,
        out: new SentinelSplitter(sentinel, (c) => output(c, "stdout")),
        err: new SentinelSplitter(sentinel, (c) => output(c, "stderr")),
        abortRequested: false,
        settle: (o) => {
          signal?.removeEventListener("abort", onAbort);
          if (killTimer) clearTimeout(killTimer);
          this.current = undefined;
          if (this.alive) this.idle();
          resolve(o);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.control.write(JSON.stringify({ ...step, id, sentinel } satisfies HelperRequest) + "\n");
      if (signal?.aborted) onAbort();
    });
  }

  /** SIGKILL the helper (and so its PID namespace) and whatever the current command started. */
  kill(): void {
    const started = this.current?.started;
    if (!this.namespaces && started) killGroup(started, "SIGKILL");
    if (this.child.pid) {
      killGroup(this.child.pid, "SIGKILL");
      try {
        process.kill(this.child.pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }

  /** The helper's pid as kiln sees it (tests find it by that). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** SIGTERM to the command: PID 1 of a namespace ignores it, the command (in the helper's group) does not. */
  private terminateCommand(): void {
    const f = this.current;
    if (!f) return;
    if (this.namespaces) {
      if (this.child.pid) killGroup(this.child.pid, "SIGTERM");
    } else if (f.started) killGroup(f.started, "SIGTERM");
    // else: sent once the helper says the command started
  }

  private onReplies(text: string): void {
    this.replyText += text;
    let nl: number;
    while ((nl = this.replyText.indexOf("\n")) >= 0) {
      const line = this.replyText.slice(0, nl);
      this.replyText = this.replyText.slice(nl + 1);
      if (line.trim() === "") continue;
      const msg = JSON.parse(line) as HelperReady | HelperReply;
      if ("ready" in msg) {
        this.syncSuppressed = msg.syncSuppressed;
        this.syncReason = msg.syncReason;
        this.namespaces = msg.pidNamespace;
        this.startReason ??= msg.reason;
        this.readyWait?.resolve();
        this.readyWait = undefined;
        continue;
      }
      const f = this.current;
      if (!f || f.id !== msg.id) continue;
      if ("started" in msg) {
        f.started = msg.started;
        if (f.abortRequested) this.terminateCommand();
      } else {
        f.reply = msg;
        if (msg.retiring) this.retired = true;
        this.check();
      }
    }
  }

  private check(): void {
    const f = this.current;
    // A retiring helper's RUN ends with its exit: until then its threads may hold the RUN's mounts.
    if (f?.reply && f.out.done && f.err.done && !(f.reply.retiring && this.alive)) f.settle({ reply: f.reply });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    if (this.exited) return;
    this.exited = { code, signal };
    if (this.readyWait) {
      const why = error?.message ?? (signal ? `killed by ${signal}` : `exit ${code}`);
      const said = this.earlyStderr.trim();
      this.readyWait.reject(new KilnError(`RUN: cannot start the run helper (${why})${said ? `: ${said}` : ""}`));
      this.readyWait = undefined;
      return;
    }
    const f = this.current;
    if (!f) return;
    // What it wrote before dying may still be in the pipes.
    const judge = () => {
      if (this.current !== f) return;
      if (f.reply && f.out.done && f.err.done) f.settle({ reply: f.reply });
      else f.settle({ died: { code, signal } });
    };
    this.child.once("close", judge);
    setTimeout(judge, DRAIN_MS);
  }

  /** Between RUNs the helper must not keep kiln's event loop alive. */
  private idle(): void {
    this.child.unref();
    for (const s of this.streams) unrefStream(s);
  }

  private ref(): void {
    this.child.ref();
    for (const s of this.streams) refStream(s);
  }
}

type Handle = { ref?(): void; unref?(): void; _handle?: { ref?(): void; unref?(): void } };
function unrefStream(s: unknown): void {
  const h = s as Handle;
  if (h.unref) h.unref();
  else h._handle?.unref?.();
}
function refStream(s: unknown): void {
  const h = s as Handle;
  if (h.ref) h.ref();
  else h._handle?.ref?.();
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch { /* already gone */ }
}

/** Compiled kiln re-executes itself (src/cli/entry.ts dispatches on KILN_RUN_HELPER); from source, run the helper entry directly. */
export function helperCommand(): string[] {
  const self = selfCommand();
  if (isCompiled()) return self;
  return [...self.slice(0, -1), new URL("./helper-entry.ts", import.meta.url).pathname];
}

/**
 * Bun's JIT and garbage collector work on threads they start (from the JS thread) when they like;
 * one started during a RUN would stay in that RUN's namespaces and retire the helper
 * (helper-host.ts). The helper's code and heap are small: compiling and collecting on its own
 * thread costs nothing that matters.
 */
const NO_LATE_THREADS = { BUN_JSC_useConcurrentJIT: "0", BUN_JSC_useConcurrentGC: "0", BUN_JSC_numberOfGCMarkers: "1", BUN_JSC_useWarmUpMarkedBlocks: "0" };

/**
 * Started plainly: when it is to be PID 1 of a PID namespace of its own, the helper's first process
 * makes the namespace and re-executes into it (helper-launch.ts), never kiln's JS thread.
 */
function startProcess(options: HelperOptions): { child: ChildProcess; namespaces: boolean; reason?: string } {
  const [cmd, ...args] = helperCommand();
  const child = spawn(cmd!, args, {
    env: { ...process.env, ...NO_LATE_THREADS, [HELPER_ENV]: "1", [HELPER_OPTIONS_ENV]: JSON.stringify({ ...options, launch: options.pidNamespace } satisfies HelperOptions) },
    stdio: ["pipe", "pipe", "pipe", "pipe"],
    // Own process group: abort and cleanup signal the whole tree at once.
    detached: true,
  });
  return { child, namespaces: options.pidNamespace };
}

/** "SIGKILL" or "exit 3": how a helper ended, for messages. */
export function describeExit(e: { code: number | null; signal: NodeJS.Signals | null }): string {
  return e.signal ? e.signal : `exit ${e.code}`;
}

/** The shell's exit code for a helper that ended this way. */
export function exitCodeOf(e: { code: number | null; signal: NodeJS.Signals | null }): number {
  return e.code ?? 128 + signalNumber(e.signal);
}

// RUN --mount, --network and --security end to end: kiln build through the CLI, pushed to the real
// local registry, then every layer, the config and the build log searched for what must not be
// there (secret bytes, cache bytes, mount directories). The rules checked are BuildKit's Dockerfile
// reference, "RUN --mount" / "RUN --network" / "RUN --security" sections, cited per test.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decompress } from "../../src/fs/compression.ts";
import { parseReference } from "../../src/image/reference.ts";
import { fetchImage, RegistryClient } from "../../src/registry/index.ts";
import { readTar } from "../../src/tar/reader.ts";
import { baseImages, registry, type RegistryHandle } from "../env.ts";

const root = join(import.meta.dir, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "kiln-mounts-e2e-"));
const cacheMounts = join(tmp, "cache-mounts");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let reg: RegistryHandle;
let busybox: string;
beforeAll(async () => {
  reg = await registry();
  busybox = (await baseImages()).busybox;
});

/** kiln build (async: the network test serves HTTP from this process while kiln runs). */
function kiln(args: string[], env: Record<string, string> = {}, runtime: "bun" | "deno" = "bun"): Promise<{ code: number | null; log: string }> {
  const cmd = runtime === "bun" ? [join(root, "node_modules", ".bin", "bun"), join(root, "mod.ts")] : [join(root, "node_modules", ".bin", "deno"), "run", "-A", join(root, "mod.ts")];
  return new Promise((resolve) => {
    const p = spawn(cmd[0]!, [...cmd.slice(1), "build", "--cache-mount-dir", cacheMounts, ...args], {
      cwd: root, env: { ...process.env, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    p.stdout.on("data", (d) => (log += d));
    p.stderr.on("data", (d) => (log += d));
    p.on("close", (code) => resolve({ code, log }));
  });
}

function context(name: string, dockerfile: string, files: Record<string, string> = {}): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), dockerfile);
  for (const [f, c] of Object.entries(files)) {
    mkdirSync(join(dir, f, ".."), { recursive: true });
    writeFileSync(join(dir, f), c);
  }
  return dir;
}

interface Pushed {
  /** Entry names of the layers kiln added (not the base's), per layer. */
  names: string[];
  /** File contents of the added layers by path (last writer wins). */
  files: Map<string, string>;
  /** Everything: decompressed bytes of every added layer, then the config. */
  raw: string;
}

async function pushed(ref: string, baseLayers = 1): Promise<Pushed> {
  const client = new RegistryClient({ insecureRegistries: ["*"] });
  const img = await fetchImage(client, parseReference(ref));
  const names: string[] = [];
  const files = new Map<string, string>();
  let raw = "";
  for (const layer of img.layers.slice(baseLayers)) {
    for await (const { header: h, body } of readTar(decompress(await layer.open(), layer.digest))) {
      const name = h.name.replace(/^\.?\//, "").replace(/\/$/, "");
      names.push(name);
      raw += name + "\n";
      if (h.type === "file") {
        const chunks: Uint8Array[] = [];
        for await (const c of body) chunks.push(c);
        const text = Buffer.concat(chunks).toString("utf8");
        files.set(name, text);
        raw += text;
      }
    }
  }
  raw += JSON.stringify(img.config);
  return { names, files, raw };
}

async function missing(ref: string): Promise<boolean> {
  const client = new RegistryClient({ insecureRegistries: ["*"] });
  return fetchImage(client, parseReference(ref)).then(() => false, () => true);
}

describe("RUN --mount=type=cache", () => {
  // Reference: "Contents of the cache directories persists between builder invocations without
  // invalidating the instruction cache"; id defaults to target; mode 0755, uid/gid 0 for a new directory.
  const df = (base: string) => `FROM ${base}
RUN --mount=type=cache,target=/var/cache/thing \\
    echo CACHE$((6*7))BYTES >> /var/cache/thing/log && wc -l < /var/cache/thing/log | tr -d ' ' > /runs && stat -c '%a %u:%g' /var/cache/thing > /default-mode
RUN --mount=type=cache,id=owned,target=/owned,mode=0700,uid=1000,gid=1000,sharing=locked stat -c '%a %u:%g' /owned > /owned-mode
RUN --mount=type=cache,id=owned,target=/ro,ro sh -c 'touch /ro/x 2>/dev/null && echo writable > /ro-result || echo read-only > /ro-result'
`;
  test("persists across two builds, never in a layer, a key or the config", async () => {
    const ctx = context("cache", df(busybox));
    const refs = [`${reg.host}/mounts/cache:1`, `${reg.host}/mounts/cache:2`];
    for (const ref of refs) {
      const r = await kiln(["-c", ctx, "-d", ref]);
      if (r.code !== 0) throw new Error(r.log);
    }
    const first = await pushed(refs[0]!);
    const second = await pushed(refs[1]!);
    expect(first.files.get("runs")).toBe("1\n");
    expect(second.files.get("runs")).toBe("2\n");
    expect(second.files.get("default-mode")).toBe("755 0:0\n");
    expect(second.files.get("owned-mode")).toBe("700 1000:1000\n");
    expect(second.files.get("ro-result")).toBe("read-only\n");
    for (const p of [first, second]) {
      expect(p.raw).not.toContain("CACHE42BYTES");
      expect(p.names.filter((n) => /^(var|owned|ro)(\/|$)/.test(n))).toEqual([]);
    }
    // The content is kept in the kiln-owned directory, one directory per id.
    expect(readdirSync(cacheMounts).filter((n) => !n.includes(".")).length).toBe(2);
  });

  test("from=<stage>,source= seeds a new cache directory", async () => {
    const ctx = context("cache-from", `FROM ${busybox} AS seed
RUN mkdir -p /seed && echo seeded > /seed/file
FROM ${busybox}
RUN --mount=type=cache,id=seeded-${Date.now()},target=/c,from=seed,source=/seed cat /c/file > /got
`);
    const ref = `${reg.host}/mounts/cache-from:1`;
    const r = await kiln(["-c", ctx, "-d", ref]);
    expect(r.code).toBe(0);
    const p = await pushed(ref);
    expect(p.files.get("got")).toBe("seeded\n");
    expect(p.names.filter((n) => n.startsWith("c"))).toEqual([]);
  });
});

describe("RUN --mount=type=secret", () => {
  // Reference: target defaults to /run/secrets/<id>; mode 0400, uid/gid 0; env= exposes it as a
  // variable; required=true errors when the secret is unavailable.
  const SECRET = "s3cr3t-Zq9-file-value";
  const ENV_SECRET = "s3cr3t-Wk4-env-value";
  test("file and env secrets reach the RUN; no byte of them in any layer, the config, the history or the log", async () => {
    const file = join(tmp, "token.txt");
    writeFileSync(file, SECRET);
    const ctx = context("secret", `FROM ${busybox}
RUN --mount=type=secret,id=tok --mount=type=secret,id=api,env=API_KEY \\
    stat -c '%a %u:%g' /run/secrets/tok > /mode && sha256sum /run/secrets/tok | cut -c1-64 > /sum && echo -n "$API_KEY" | sha256sum | cut -c1-64 > /envsum
`);
    const ref = `${reg.host}/mounts/secret:1`;
    const r = await kiln(["-c", ctx, "-d", ref, "--secret", `id=tok,src=${file}`, "--secret", "id=api,env=KILN_TEST_API"], { KILN_TEST_API: ENV_SECRET });
    expect(r.code).toBe(0);
    const p = await pushed(ref);
    const sha = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");
    expect(p.files.get("mode")).toBe("400 0:0\n");
    expect(p.files.get("sum")).toBe(sha(SECRET) + "\n");
    expect(p.files.get("envsum")).toBe(sha(ENV_SECRET) + "\n");
    for (const s of [SECRET, ENV_SECRET]) {
      expect(p.raw).not.toContain(s);
      expect(r.log).not.toContain(s);
    }
    expect(p.names.filter((n) => n.startsWith("run"))).toEqual([]);
  });

  test("a required secret that is not given: an error naming it and the line, nothing pushed", async () => {
    const ctx = context("secret-missing", `FROM ${busybox}\nRUN --mount=type=secret,id=npmrc,required=true cat /run/secrets/npmrc\n`);
    const ref = `${reg.host}/mounts/secret-missing:1`;
    const r = await kiln(["-c", ctx, "-d", ref]);
    expect(r.code).toBe(1);
    expect(r.log).toContain(`Dockerfile:2: RUN --mount=type=secret: secret "npmrc" is required but not given`);
    expect(await missing(ref)).toBe(true);
  });

  test("an optional secret that is not given is not mounted", async () => {
    const ctx = context("secret-optional", `FROM ${busybox}\nRUN --mount=type=secret,id=nope sh -c 'test -e /run/secrets/nope && echo there > /r || echo absent > /r'\n`);
    const ref = `${reg.host}/mounts/secret-optional:1`;
    expect((await kiln(["-c", ctx, "-d", ref])).code).toBe(0);
    expect((await pushed(ref)).files.get("r")).toBe("absent\n");
  });
});

describe("RUN --mount=type=bind", () => {
  // Reference: from defaults to the build context, source to its root; read-only unless rw, and
  // with rw "written data will be discarded".
  test("from the context, a stage and an image; rw writes discarded; targets leave no trace", async () => {
    const ctx = context("bind", `FROM ${busybox} AS build
RUN mkdir /out && echo from-stage > /out/artifact
FROM ${busybox}
RUN --mount=target=/src cat /src/pkg/data.txt > /ctx-read && (touch /src/x 2>/dev/null && echo rw > /ctx-ro || echo ro > /ctx-ro)
RUN --mount=type=bind,from=build,source=/out,target=/mnt/build cat /mnt/build/artifact > /stage-read
RUN --mount=type=bind,from=${busybox},source=/bin,target=/usr/local/img-bin test -x /usr/local/img-bin/busybox && echo ran > /image-read
RUN --mount=type=bind,source=pkg,target=/w,rw sh -c 'echo changed > /w/data.txt && echo new > /w/new.txt && cat /w/data.txt > /rw-read'
`, { "pkg/data.txt": "context-data\n" });
    const ref = `${reg.host}/mounts/bind:1`;
    const r = await kiln(["-c", ctx, "-d", ref]);
    expect(r.code).toBe(0);
    const p = await pushed(ref, 1);
    expect(p.files.get("ctx-read")).toBe("context-data\n");
    expect(p.files.get("ctx-ro")).toBe("ro\n");
    expect(p.files.get("stage-read")).toBe("from-stage\n");
    expect(p.files.get("image-read")).toBe("ran\n");
    expect(p.files.get("rw-read")).toBe("changed\n");
    expect(p.names.filter((n) => /^(src|mnt|w|usr)(\/|$)/.test(n))).toEqual([]);
    expect(Bun.file(join(ctx, "pkg", "data.txt")).size).toBe("context-data\n".length);
    expect(readdirSync(join(ctx, "pkg"))).toEqual(["data.txt"]);
  });

  test("a bind from an unknown stage: a clear error with the line, nothing pushed", async () => {
    // As in BuildKit a from= that names no stage is an image; one on the local registry keeps the test off the internet.
    const bogus = `${reg.host}/nosuchstage`;
    const ctx = context("bind-unknown", `FROM ${busybox} AS known\nFROM ${busybox}\nRUN --mount=type=bind,from=${bogus},target=/x true\n`);
    const ref = `${reg.host}/mounts/bind-unknown:1`;
    const r = await kiln(["-c", ctx, "-d", ref]);
    expect(r.code).toBe(1);
    expect(r.log).toContain(`Dockerfile:3: RUN --mount from=${bogus}: not a stage of this Dockerfile, and not an image that can be pulled`);
    expect(await missing(ref)).toBe(true);
  });
});

describe("RUN --mount and the layer cache", () => {
  // Reference: cache mounts persist "without invalidating the instruction cache"; a secret's value
  // is no input of the step; a bound context file is (BuildKit keys on the mounted content).
  test("a changed secret value or cache content still hits; a changed bound context file misses", async () => {
    const file = join(tmp, "keyed-secret");
    const ctx = context("keys", `FROM ${busybox}
RUN --mount=type=secret,id=s --mount=type=cache,target=/c sh -c 'date >> /c/log; echo step1 > /one'
RUN --mount=type=bind,source=input.txt,target=/in.txt cat /in.txt > /two
`, { "input.txt": "v1\n" });
    const ref = `${reg.host}/mounts/keys:1`;
    const cacheRepo = `${reg.host}/mounts/keys-cache`;
    const build = (secret: string) => {
      writeFileSync(file, secret);
      return kiln(["-c", ctx, "-d", ref, "--cache", "--cache-repo", cacheRepo, "--secret", `id=s,src=${file}`]);
    };
    const first = await build("value-one");
    expect(first.code).toBe(0);
    const again = await build("value-two");
    expect(again.code).toBe(0);
    expect(again.log).toMatch(/STEP 1\/2: RUN --mount=type=secret.*\(CACHE HIT/);
    expect(again.log).toMatch(/STEP 2\/2: RUN --mount=type=bind.*\(CACHE HIT/);
    writeFileSync(join(ctx, "input.txt"), "v2\n");
    const changed = await build("value-two");
    expect(changed.code).toBe(0);
    expect(changed.log).toMatch(/STEP 1\/2: .*\(CACHE HIT/);
    expect(changed.log).toMatch(/STEP 2\/2: .*\(CACHE MISS/);
    expect((await pushed(ref)).files.get("two")).toBe("v2\n");
    for (const r of [first, again, changed]) expect(r.log).not.toMatch(/value-(one|two)/);
  });
});

describe("RUN --mount=type=tmpfs and type=ssh", () => {
  test("tmpfs with size; ssh agent socket at /run/buildkit/ssh_agent.0 with SSH_AUTH_SOCK", async () => {
    const agent = join(tmp, "agent.sock");
    const server = createNetServer((c) => c.end());
    await new Promise<void>((r) => server.listen(agent, r));
    try {
      const ctx = context("tmpfs-ssh", `FROM ${busybox}
ARG SCRATCH=/scratch
RUN --mount=type=tmpfs,target=$SCRATCH,size=8m sh -c 'grep " /scratch " /proc/mounts | cut -d" " -f3,4 > /tmpfs-info; echo TMPFS$((6*7))BYTES > /scratch/f'
RUN --mount=type=ssh sh -c 'test -S "$SSH_AUTH_SOCK" && stat -c "%a $SSH_AUTH_SOCK" "$SSH_AUTH_SOCK" > /ssh-info'
`);
      const ref = `${reg.host}/mounts/tmpfs-ssh:1`;
      const r = await kiln(["-c", ctx, "-d", ref, "--ssh", `default=${agent}`]);
      expect(r.code).toBe(0);
      const p = await pushed(ref);
      expect(p.files.get("tmpfs-info")).toMatch(/^tmpfs rw,.*size=8192k/);
      expect(p.files.get("ssh-info")).toBe("600 /run/buildkit/ssh_agent.0\n");
      expect(p.raw).not.toContain("TMPFS42BYTES");
      expect(p.names.filter((n) => /^(scratch|run)(\/|$)/.test(n))).toEqual([]);
    } finally {
      server.close();
    }
  });
});

describe("RUN --network and --security", () => {
  // Reference: "none: The command is run with no network access (lo is still available, but is
  // isolated to this process)"; --security=insecure needs the security.insecure entitlement.
  test("--network=none cannot reach a loopback HTTP server on the host; default can", async () => {
    const server = createHttpServer((_, res) => res.end("reached-host"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const get = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 127.0.0.1 ${port}`;
      const ctx = context("network", `FROM ${busybox}
RUN (${get} || true) | tail -n1 > /default
RUN --network=none (${get} || true) | tail -n1 > /none
RUN --network=host (${get} || true) | tail -n1 > /host
`);
      const ref = `${reg.host}/mounts/network:1`;
      const r = await kiln(["-c", ctx, "-d", ref]);
      expect(r.code).toBe(0);
      const p = await pushed(ref);
      expect(p.files.get("default")).toBe("reached-host");
      expect(p.files.get("host")).toBe("reached-host");
      expect(p.files.get("none")).toBe("");
    } finally {
      server.close();
    }
  });

  test("--security=insecure is an error unless --allow security.insecure", async () => {
    const ctx = context("insecure", `FROM ${busybox}\nRUN --security=insecure echo ok > /ok\n`);
    const ref = `${reg.host}/mounts/insecure:1`;
    const denied = await kiln(["-c", ctx, "-d", ref]);
    expect(denied.code).toBe(1);
    expect(denied.log).toContain("Dockerfile:2: RUN --security=insecure is not allowed: pass --allow security.insecure to permit it");
    expect(await missing(ref)).toBe(true);
    const allowed = await kiln(["-c", ctx, "-d", ref, "--allow", "security.insecure"]);
    expect(allowed.code).toBe(0);
  });
});

describe("bad --mount input", () => {
  test("an unknown type or option: the Dockerfile line, exit 1, nothing pushed", async () => {
    for (const [i, m] of ["type=nfs,target=/x", "type=cache,target=/x,colour=red"].entries()) {
      const ctx = context(`bad-${i}`, `FROM ${busybox}\nRUN --mount=${m} true\n`);
      const ref = `${reg.host}/mounts/bad-${i}:1`;
      const r = await kiln(["-c", ctx, "-d", ref]);
      expect(r.code).toBe(1);
      expect(r.log).toMatch(i === 0 ? /Dockerfile:2: .*unsupported mount type "nfs"/ : /Dockerfile:2: .*unknown mount option "colour"/);
      expect(await missing(ref)).toBe(true);
    }
  });

  test("--secret of a missing file, --ssh of a non-socket, --allow of an unknown entitlement: exit 2", async () => {
    const ctx = context("flags", `FROM ${busybox}\nRUN true\n`);
    expect((await kiln(["-c", ctx, "--no-push", "--secret", `id=x,src=${join(tmp, "nope")}`])).log).toContain("flag --secret: id=x:");
    expect((await kiln(["-c", ctx, "--no-push", "--ssh", `default=${join(ctx, "Dockerfile")}`])).code).toBe(2);
    const r = await kiln(["-c", ctx, "--no-push", "--allow", "everything"]);
    expect(r.code).toBe(2);
    expect(r.log).toContain(`flag --allow: "everything": unknown entitlement`);
  });
});

describe("directives in a build", () => {
  test("# syntax= of an external frontend and # check= are warned about; the build goes on", async () => {
    const ctx = context("directives", `# syntax=example.com/custom/frontend:2\n# check=error=true\nFROM ${busybox}\nRUN true\n`);
    const r = await kiln(["-c", ctx, "--no-push"]);
    expect(r.code).toBe(0);
    expect(r.log).toContain("# syntax=example.com/custom/frontend:2: external frontends are not run; kiln builds with its built-in Dockerfile frontend");
    expect(r.log).toContain("# check=error=true: kiln runs no build checks");
  });
});

describe("on Deno", () => {
  test("every mount type and --network=none in one build", async () => {
    const agent = join(tmp, "deno-agent.sock");
    const server = createNetServer((c) => c.end());
    await new Promise<void>((r) => server.listen(agent, r));
    const file = join(tmp, "deno-secret");
    writeFileSync(file, "deno-s3cr3t-Jx2");
    try {
      const ctx = context("deno", `FROM ${busybox} AS other
RUN echo other-stage > /o
FROM ${busybox}
RUN --mount=type=cache,id=deno-${Date.now()},target=/c --mount=type=secret,id=s,target=/s --mount=type=tmpfs,target=/t \\
    --mount=from=other,source=/o,target=/o --mount=source=in,target=/in,rw --mount=type=ssh --network=none \\
    sh -c 'echo x > /c/f && echo y > /in/z && cat /s | wc -c > /r && cat /o >> /r && test -S $SSH_AUTH_SOCK && echo ssh-ok >> /r'
`, { "in/a": "a" });
      const ref = `${reg.host}/mounts/deno:1`;
      const r = await kiln(["-c", ctx, "-d", ref, "--secret", `id=s,src=${file}`, "--ssh", `default=${agent}`], {}, "deno");
      if (r.code !== 0) throw new Error(r.log);
      const p = await pushed(ref);
      expect(p.files.get("r")).toBe("15\nother-stage\nssh-ok\n");
      expect(p.names.filter((n) => /^(c|s|t|o|in|run)(\/|$)/.test(n))).toEqual([]);
      expect(p.raw).not.toContain("deno-s3cr3t");
    } finally {
      server.close();
    }
  });
});

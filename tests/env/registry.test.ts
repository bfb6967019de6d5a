import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { authRegistry, registry, tlsRegistry } from "../env.ts";
import { httpStatus, startRegistry } from "../../scripts/registry.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid) || isZombie(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^\d+ \(.*\) /, " ").slice(0, 3));
  } catch {
    return false;
  }
}

const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });

describe("test registry", () => {
  test("plain registry answers /v2/ and logs the request", async () => {
    const reg = await registry();
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(reg.url).toBe(`http://${reg.host}`);
    expect(await httpStatus(`${reg.url}/v2/`)).toBe(200);
    const res = await fetch(`${reg.url}/v2/_catalog`);
    expect(res.status).toBe(200);
    expect(existsSync(reg.dataDir)).toBe(true);
    expect(readFileSync(reg.logFile, "utf8")).toContain('"GET /v2/_catalog HTTP/1.1" 200');
    expect(await registry()).toBe(reg);
  });

  test("auth registry refuses without credentials and accepts with them", async () => {
    const reg = await authRegistry();
    expect(reg.username).toBeTruthy();
    expect(reg.password).toBeTruthy();
    const anon = await fetch(`${reg.url}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get("www-authenticate")).toMatch(/^Basic realm="kiln-test"/);
    expect(await httpStatus(`${reg.url}/v2/`, undefined, basic(reg.username!, "wrong"))).toBe(401);
    expect(await httpStatus(`${reg.url}/v2/`, undefined, basic(reg.username!, reg.password!))).toBe(200);
  });

  test("TLS registry answers over https with its CA and is refused without it", async () => {
    const reg = await tlsRegistry();
    expect(reg.url).toBe(`https://${reg.host}`);
    expect(reg.caFile && existsSync(reg.caFile)).toBe(true);
    expect(await httpStatus(`${reg.url}/v2/`, reg.caFile)).toBe(200);
    await expect(httpStatus(`${reg.url}/v2/`)).rejects.toThrow();
    // Plain HTTP to the TLS port gets Go's "client sent an HTTP request to an HTTPS server".
    expect(await httpStatus(`http://${reg.host}/v2/`)).toBe(400);
  });

  test("stop() kills the registry and removes its files", async () => {
    const reg = await startRegistry();
    expect(alive(reg.pid)).toBe(true);
    await reg.stop();
    expect(await waitGone(reg.pid)).toBe(true);
    expect(existsSync(reg.dataDir)).toBe(false);
    await expect(httpStatus(`${reg.url}/v2/`)).rejects.toThrow();
  });

  for (const [how, sig] of [["a crash (SIGKILL)", "SIGKILL"], ["Ctrl-C (SIGINT)", "SIGINT"]] as const) {
    test(`${how} of the test process does not leave the registry running`, async () => {
      const child = spawn(process.execPath, [new URL("fixtures/hold-registry.ts", import.meta.url).pathname], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const info = await new Promise<{ pid: number; dataDir: string }>((resolve, reject) => {
        let buf = "";
        child.stdout!.on("data", (b: Buffer) => {
          buf += b;
          const line = buf.split("\n")[0];
          if (buf.includes("\n")) resolve(JSON.parse(line!));
        });
        child.on("exit", (c) => reject(new Error(`fixture exited ${c}`)));
      });
      expect(alive(info.pid)).toBe(true);
      child.kill(sig);
      expect(await waitGone(info.pid)).toBe(true);
      const end = Date.now() + 5000;
      while (existsSync(info.dataDir) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(info.dataDir)).toBe(false);
    });
  }
});

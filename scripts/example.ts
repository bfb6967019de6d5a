// The README's first command (`npm run example`): a real build end to end, offline.
// Starts a local registry, builds and pushes the busybox base image, has kiln build
// examples/hello and push it (then again from its layer cache), checks the pushed image with
// skopeo and runs it in a chroot.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRegistry } from "./registry.ts";
import { pushBaseImages } from "./base-images.ts";

const root = join(import.meta.dirname, "..");
const bun = join(root, "node_modules", ".bin", "bun");

function run(cmd: string, args: string[], opts: { capture?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { cwd: root, stdio: opts.capture ? ["ignore", "pipe", "inherit"] : "inherit", encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`example: ${cmd} ${args.join(" ")} failed (exit ${r.status})`);
    process.exit(r.status || 1);
  }
  return r.stdout ?? "";
}

if (process.getuid?.() === 0) run("bash", ["scripts/install-deps"]);
const work = mkdtempSync(join(tmpdir(), "kiln-example-"));
const reg = await startRegistry();
try {
  console.log(`== local registry at ${reg.host}`);
  const bases = await pushBaseImages(reg, ["busybox"]);
  console.log(`== base image ${bases.busybox}`);
  const dest = `${reg.host}/examples/hello:latest`;
  const digestFile = join(work, "digest");
  console.log(`== kiln build examples/hello → ${dest}`);
  const buildArgs = ["mod.ts", "build", "--context", "examples/hello", "--destination", dest,
    "--build-arg", `BASE=${bases.busybox}`, "--cache", "--reproducible", "--digest-file", digestFile];
  run(bun, buildArgs);
  const digest = readFileSync(digestFile, "utf8").trim();
  // The headline feature: the same build again, from nothing but the registry's cache.
  console.log(`== the same build again, with the layer cache (${dest.replace(/:latest$/, "")}/cache)`);
  const report = join(work, "cache-report.json");
  run(bun, [...buildArgs, "--cache-report", report]);
  const rows = JSON.parse(readFileSync(report, "utf8")) as { hit: boolean }[];
  const again = readFileSync(digestFile, "utf8").trim();
  console.log(`== ${rows.filter((r) => r.hit).length} of ${rows.length} steps were cache hits; same digest: ${again === digest}`);
  if (again !== digest) throw new Error(`the cached rebuild gave ${again}, not ${digest}`);
  console.log(`== pushed ${dest}@${digest}`);
  const inspect = JSON.parse(run("skopeo", ["inspect", "--tls-verify=false", `docker://${dest}`], { capture: true }));
  if (inspect.Digest !== digest) throw new Error(`registry says ${inspect.Digest}, kiln said ${digest}`);
  const config = JSON.parse(run("skopeo", ["inspect", "--config", "--tls-verify=false", `docker://${dest}`], { capture: true }));
  console.log(`== skopeo inspect: ${inspect.Layers.length} layers, entrypoint ${JSON.stringify(config.config?.Entrypoint)}, user ${config.config?.User}`);
  // Run the image the way a runtime would: unpack it and exec its entrypoint + cmd as its user.
  run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${dest}`, `oci:${join(work, "layout")}:latest`]);
  run("umoci", ["unpack", "--image", `${join(work, "layout")}:latest`, join(work, "bundle")], { capture: true });
  const cfg = JSON.parse(readFileSync(join(work, "bundle", "config.json"), "utf8"));
  const out = run("chroot", ["--userspec", `${cfg.process.user.uid}:${cfg.process.user.gid}`, join(work, "bundle", "rootfs"), ...cfg.process.args], { capture: true });
  console.log(`== the image says: ${out.trim()}`);
} finally {
  await reg.stop();
  rmSync(work, { recursive: true, force: true });
}

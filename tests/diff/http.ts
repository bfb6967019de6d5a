// A loopback file server for `ADD <url>` cases: serves tests/diff/cases/ read-only on 127.0.0.1.
// Both builders fetch from it, so remote sources are tested without leaving the machine.
import http from "node:http";
import fs from "node:fs";
import { normalize, join } from "node:path";

let server: Promise<string> | undefined;

/** "http://127.0.0.1:PORT", started once per test process. */
export function fileServer(root: string): Promise<string> {
  return (server ??= new Promise((resolve, reject) => {
    const srv = http.createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
      const file = join(root, path);
      if (path.includes("..") || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        res.writeHead(404).end("not found\n");
        return;
      }
      const body = fs.readFileSync(file);
      // A fixed Last-Modified: builders may use it as the file's mtime, which is not compared anyway.
      res.writeHead(200, { "content-length": body.length, "last-modified": "Mon, 01 Jan 2024 00:00:00 GMT" });
      res.end(req.method === "HEAD" ? undefined : body);
    });
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      srv.unref(); // never keeps `bun test` alive
      const a = srv.address();
      resolve(`http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`);
    });
  }));
}

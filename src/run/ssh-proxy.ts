// RUN --mount=type=ssh: a socket of the runner's own that forwards each connection to the agent
// socket given by --ssh. The command sees it at its target with the mode and owner it asked for
// (BuildKit's defaults: 0600, 0:0), and the host agent's socket is never exposed or changed.
import { chmodSync, chownSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";

export interface SshProxy {
  path: string;
  close(): void;
}

export async function startSshProxy(agent: string, path: string, mode: number, uid: number, gid: number): Promise<SshProxy> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(agent);
    open.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  chownSync(path, uid, gid);
  chmodSync(path, mode);
  return {
    path,
    close() {
      for (const s of open) s.destroy();
      server.close();
    },
  };
}

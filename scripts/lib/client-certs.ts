// A client CA and a client certificate signed by it, for a registry that requires mutual TLS
// (distribution's http.tls.clientcas). Made with the openssl CLI; EC keys keep it fast.
import { join } from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import { exec } from "./exec.ts";

export interface ClientCerts {
  /** The CA the registry trusts for client certificates. */
  clientCaFile: string;
  /** The client's certificate and key (PEM), as given to --registry-client-cert. */
  certFile: string;
  keyFile: string;
}

export async function makeClientCerts(dir: string): Promise<ClientCerts> {
  mkdirSync(dir, { recursive: true });
  const caKey = join(dir, "client-ca.key");
  const clientCaFile = join(dir, "client-ca.crt");
  const keyFile = join(dir, "client.key");
  const csr = join(dir, "client.csr");
  const certFile = join(dir, "client.crt");
  const ext = join(dir, "client.ext");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await exec("openssl", [
    "req", "-x509", ...ec, "-keyout", caKey, "-out", clientCaFile, "-days", "3650", "-subj", "/CN=kiln test client CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await exec("openssl", ["req", ...ec, "-keyout", keyFile, "-out", csr, "-subj", "/CN=kiln test client"]);
  writeFileSync(ext, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n");
  await exec("openssl", [
    "x509", "-req", "-in", csr, "-CA", clientCaFile, "-CAkey", caKey, "-CAserial", join(dir, "client-ca.srl"), "-CAcreateserial",
    "-out", certFile, "-days", "825", "-extfile", ext,
  ]);
  return { clientCaFile, certFile, keyFile };
}

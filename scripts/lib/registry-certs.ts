// Self-signed CA + server certificate for a TLS test registry on 127.0.0.1, made with the openssl CLI.
// EC keys keep generation to a few milliseconds.
import { join } from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import { exec } from "./exec.ts";

export interface RegistryCerts {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * caFile lands alone in dir/ca/ so that directory works as a containers-style cert dir
 * (skopeo --dest-cert-dir treats every *.key there as a client key, so nothing else may sit beside it).
 */
export async function makeRegistryCerts(dir: string, ip = "127.0.0.1"): Promise<RegistryCerts> {
  const caKey = join(dir, "ca.key");
  mkdirSync(join(dir, "ca"), { recursive: true });
  const caFile = join(dir, "ca", "ca.crt");
  const keyFile = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const certFile = join(dir, "server.crt");
  const ext = join(dir, "server.ext");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await exec("openssl", [
    "req", "-x509", ...ec, "-keyout", caKey, "-out", caFile, "-days", "3650", "-subj", "/CN=kiln test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await exec("openssl", ["req", ...ec, "-keyout", keyFile, "-out", csr, "-subj", `/CN=${ip}`]);
  writeFileSync(
    ext,
    `subjectAltName=IP:${ip}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  await exec("openssl", [
    "x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKey, "-CAserial", join(dir, "ca.srl"), "-CAcreateserial",
    "-out", certFile, "-days", "825", "-extfile", ext,
  ]);
  return { caFile, certFile, keyFile };
}

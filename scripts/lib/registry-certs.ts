// Certificates for TLS test registries on 127.0.0.1, made with the openssl CLI: a self-signed CA
// and server certificate, and for mutual TLS a client CA and a client certificate signed by it.
// EC keys keep generation to a few milliseconds.
import { join } from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import { exec } from "./exec.ts";

export interface RegistryCerts {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface ClientCerts {
  /** The CA the registry trusts for client certificates (distribution's http.tls.clientcas). */
  clientCaFile: string;
  /** The client's certificate and key (PEM), as given to --registry-client-cert. */
  certFile: string;
  keyFile: string;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A self-signed CA: its key and certificate. */
async function makeCa(keyFile: string, certFile: string, name: string): Promise<void> {
  await exec("openssl", [
    "req", "-x509", ...EC, "-keyout", keyFile, "-out", certFile, "-days", "3650", "-subj", `/CN=${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

/** A key and a certificate for `subject` signed by the CA, with the given extensions. `stem` names the files. */
async function signed(dir: string, stem: string, subject: string, extensions: string, ca: { cert: string; key: string; serial: string }): Promise<{ certFile: string; keyFile: string }> {
  const keyFile = join(dir, `${stem}.key`);
  const csr = join(dir, `${stem}.csr`);
  const certFile = join(dir, `${stem}.crt`);
  const ext = join(dir, `${stem}.ext`);
  await exec("openssl", ["req", ...EC, "-keyout", keyFile, "-out", csr, "-subj", `/CN=${subject}`]);
  writeFileSync(ext, extensions);
  await exec("openssl", ["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAserial", ca.serial, "-CAcreateserial", "-out", certFile, "-days", "825", "-extfile", ext]);
  return { certFile, keyFile };
}

/**
 * caFile lands alone in dir/ca/ so that directory works as a containers-style cert dir
 * (skopeo --dest-cert-dir treats every *.key there as a client key, so nothing else may sit beside it).
 */
export async function makeRegistryCerts(dir: string, ip = "127.0.0.1"): Promise<RegistryCerts> {
  const caKey = join(dir, "ca.key");
  mkdirSync(join(dir, "ca"), { recursive: true });
  const caFile = join(dir, "ca", "ca.crt");
  await makeCa(caKey, caFile, "kiln test CA");
  const ext = `subjectAltName=IP:${ip}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`;
  const server = await signed(dir, "server", ip, ext, { cert: caFile, key: caKey, serial: join(dir, "ca.srl") });
  return { caFile, ...server };
}

/** A client CA and a client certificate it signed, in `dir`. */
export async function makeClientCerts(dir: string): Promise<ClientCerts> {
  mkdirSync(dir, { recursive: true });
  const caKey = join(dir, "client-ca.key");
  const clientCaFile = join(dir, "client-ca.crt");
  await makeCa(caKey, clientCaFile, "kiln test client CA");
  const ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";
  const client = await signed(dir, "client", "kiln test client", ext, { cert: clientCaFile, key: caKey, serial: join(dir, "client-ca.srl") });
  return { clientCaFile, ...client };
}

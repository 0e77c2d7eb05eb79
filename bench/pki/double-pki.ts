/**
 * The run's certificates when mesh-ca is not built: the bench's own root
 * (bench-root.ts) issues the SVIDs of haproxy and the load generator's
 * clients, and the CA double (ca-double.ts) answers the sidecars' CSRs for
 * the IDs of two fixed join tokens.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ClientTls } from "../loadgen/connect.js";
import { BenchRoot, type Credential } from "./bench-root.js";
import { startCaDouble } from "./ca-double.js";
import { assemblePki, BENCH_IDS, type BenchPki, type CaAccess } from "./pki.js";

async function writeCredential(dir: string, name: string, cred: Credential, bundleFile: string): Promise<ClientTls> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await writeFile(certFile, cred.chainPem);
  await writeFile(keyFile, cred.keyPem, { mode: 0o600 });
  return { certFile, keyFile, caFile: bundleFile };
}

/** Makes the bench's own root and starts the CA double (no mesh-ca needed). */
export async function doublePki(dir: string): Promise<BenchPki> {
  const root = await BenchRoot.create(BENCH_IDS.trustDomain);
  const bundleFile = join(dir, "bundle.pem");
  await writeFile(bundleFile, root.bundlePem);
  const server = await writeCredential(dir, "server", await root.issue(BENCH_IDS.server), bundleFile);
  const client = await writeCredential(dir, "client", await root.issue(BENCH_IDS.client), bundleFile);
  const denied = await writeCredential(dir, "denied", await root.issue(BENCH_IDS.denied), bundleFile);
  const serverToken = "bench-server-token-for-the-ca-double";
  const clientToken = "bench-client-token-for-the-ca-double";
  const tokens = new Map([
    [serverToken, BENCH_IDS.server],
    [clientToken, BENCH_IDS.client],
  ]);
  const double = await startCaDouble(root, tokens, await root.issueServing());
  const tokenFile = join(dir, "token");
  const clientTokenFile = join(dir, "client-token");
  await writeFile(tokenFile, `${serverToken}\n`, { mode: 0o600 });
  await writeFile(clientTokenFile, `${clientToken}\n`, { mode: 0o600 });
  const ca: CaAccess = { kind: "double", url: double.url, bundleFile, tokenFile, clientTokenFile, stop: () => double.close() };
  return assemblePki(dir, bundleFile, { server, client, denied }, ca);
}

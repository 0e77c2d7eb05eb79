/**
 * The certificates and CA every target of one run shares. With mesh-ca built
 * (dist/ca/cli.js), the real CA runs as its own process: `mesh-ca init` makes
 * the root, `mesh-ca issue` the SVIDs for haproxy and the clients, and the
 * sidecar gets its SVID from `mesh-ca serve` with a join token. Without it,
 * bench/pki.ts makes a root and bench/ca-double.ts answers the sidecar.
 * Either way: one root, ECDSA P-256 leaves in the same profile.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ClientTls } from "./loadgen-connect.js";
import { startCaDouble } from "./ca-double.js";
import { BenchRoot, type Credential } from "./pki.js";

/** SPIFFE IDs used by the benchmark. */
export const BENCH_IDS = {
  trustDomain: "example.org",
  server: "spiffe://example.org/ns/bench/sa/server",
  client: "spiffe://example.org/ns/bench/sa/client",
  denied: "spiffe://example.org/ns/bench/sa/intruder",
} as const;

/** How a sidecar reaches the CA. */
export interface CaAccess {
  readonly kind: "mesh-ca" | "double";
  readonly url: string;
  readonly bundleFile: string;
  /** Exactly one of the two, as in the sidecar config: for the server ID (inbound sidecars) ... */
  readonly tokenFile?: string;
  readonly joinToken?: string;
  /** ... and for the client ID (the outbound sidecar of the mesh-hop test). */
  readonly clientTokenFile?: string;
  readonly clientJoinToken?: string;
  /** mesh-ca's pid when it runs as a process (its CPU time is read for the CA figures). */
  readonly pid?: number;
  /** A bearer token POST /v1/svid accepts many times over, for the end-to-end issuance figure. */
  readonly issuanceToken?: string;
  /** Stops the CA (process or in-process double). */
  stop(): Promise<void>;
}

/** Files of one run. */
export interface BenchPki {
  readonly dir: string;
  readonly bundleFile: string;
  /** Server SVID for haproxy and the plain proxy: chain and key apart ... */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** ... and in one file, as haproxy's `crt` wants it. */
  readonly serverPemFile: string;
  readonly client: ClientTls;
  /** The client SVID chain and key in one file, for the outbound haproxy's `crt`. */
  readonly clientPemFile: string;
  /** A valid SVID from the same CA whose ID no target allows. */
  readonly denied: ClientTls;
  readonly ca: CaAccess;
}

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
  const serverCred = await root.issue(BENCH_IDS.server);
  const server = await writeCredential(dir, "server", serverCred, bundleFile);
  const serverPemFile = join(dir, "server.pem");
  await writeFile(serverPemFile, serverCred.chainPem + serverCred.keyPem, { mode: 0o600 });
  const clientCred = await root.issue(BENCH_IDS.client);
  const client = await writeCredential(dir, "client", clientCred, bundleFile);
  const clientPemFile = join(dir, "client.pem");
  await writeFile(clientPemFile, clientCred.chainPem + clientCred.keyPem, { mode: 0o600 });
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
  return {
    dir,
    bundleFile,
    serverCertFile: server.certFile,
    serverKeyFile: server.keyFile,
    serverPemFile,
    client,
    clientPemFile,
    denied,
    ca: { kind: "double", url: double.url, bundleFile, tokenFile, clientTokenFile, stop: () => double.close() },
  };
}

/**
 * The certificates and CA every target of one run shares, whichever CA made
 * them: with mesh-ca built (dist/ca/cli.js) the real CA as its own process
 * (mesh-ca-pki.ts), without it the bench's own root and a CA double
 * (double-pki.ts). Either way: one root, ECDSA P-256 leaves in the same
 * profile, the same files.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ClientTls } from "../loadgen/connect.js";

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

/** Writes `<dir>/<name>.pem`, the chain and then its key in one file as haproxy's `crt` wants it; returns its path. */
async function writeCrtPem(dir: string, name: string, tls: ClientTls): Promise<string> {
  const file = join(dir, `${name}.pem`);
  await writeFile(file, (await readFile(tls.certFile, "utf8")) + (await readFile(tls.keyFile, "utf8")), { mode: 0o600 });
  return file;
}

/** The three SVIDs of a run as files, each naming the run's bundle as its caFile. */
export interface RunCredentials {
  readonly server: ClientTls;
  readonly client: ClientTls;
  readonly denied: ClientTls;
}

/** Assembles a run's files in `dir`: writes the `crt` files of the server and client SVIDs beside their chain and key. */
export async function assemblePki(dir: string, bundleFile: string, creds: RunCredentials, ca: CaAccess): Promise<BenchPki> {
  return {
    dir,
    bundleFile,
    serverCertFile: creds.server.certFile,
    serverKeyFile: creds.server.keyFile,
    serverPemFile: await writeCrtPem(dir, "server", creds.server),
    client: creds.client,
    clientPemFile: await writeCrtPem(dir, "client", creds.client),
    denied: creds.denied,
    ca,
  };
}

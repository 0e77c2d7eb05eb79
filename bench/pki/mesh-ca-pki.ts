/**
 * The benchmark's certificates from the real mesh-ca, run as its own process
 * with the commands a user would type: `init` makes the root and ca.yaml,
 * `issue` the SVIDs of haproxy and the load generator's clients, `token
 * create` the join tokens, and `serve` answers the sidecars. The one change
 * to init's ca.yaml is the rate limit, raised so the end-to-end issuance
 * figure measures signing, not the limiter.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { assemblePki, BENCH_IDS, type BenchPki } from "./pki.js";
import type { ClientTls } from "../loadgen/connect.js";
import { freePort, httpStatus, runToEnd, spawnPinned, waitFor } from "../machine/processes.js";

/** The SPIFFE ID the end-to-end issuance figure requests SVIDs for. */
const ISSUANCE_ID = "spiffe://example.org/ns/bench/sa/issuance";
const MAX_RATE = 100_000;

/** Runs `node dist/ca/cli.js ...args` to the end; returns stdout. */
function meshCa(repoRoot: string, args: string[]): Promise<string> {
  return runToEnd({ name: `mesh-ca ${args[0] ?? ""}`, core: undefined, command: process.execPath, args: [join(repoRoot, "dist/ca/cli.js"), ...args] }, 60_000);
}

async function issue(repoRoot: string, caDir: string, dir: string, name: string, id: string): Promise<ClientTls> {
  const prefix = join(dir, name);
  await meshCa(repoRoot, ["issue", "--dir", caDir, "--spiffe-id", id, "--out", prefix, "--ttl", "24h"]);
  return { certFile: `${prefix}.crt`, keyFile: `${prefix}.key`, caFile: `${prefix}.bundle.pem` };
}

async function joinToken(repoRoot: string, caDir: string, id: string, uses: number): Promise<string> {
  const out = await meshCa(repoRoot, ["token", "create", "--store", join(caDir, "tokens.json"), "--spiffe-id", id, "--uses", String(uses), "--ttl", "24h"]);
  const token = out.trim().split("\n").pop()?.trim() ?? "";
  if (!token.startsWith("meshjt_")) throw new Error("mesh-ca token create printed no meshjt_ token");
  return token;
}

/** Prepares certificates and a running mesh-ca under `dir`; the CA runs on `core`. */
export async function meshCaPki(repoRoot: string, dir: string, log: (line: string) => void, core?: number): Promise<BenchPki> {
  const caDir = join(dir, "ca");
  const apiPort = await freePort();
  const adminPort = await freePort();
  await meshCa(repoRoot, ["init", "--trust-domain", BENCH_IDS.trustDomain, "--dir", caDir, "--listen", `127.0.0.1:${apiPort}`, "--admin", `127.0.0.1:${adminPort}`]);
  const configFile = join(caDir, "ca.yaml");
  const doc = parseDocument(await readFile(configFile, "utf8"));
  doc.setIn(["limits", "ratePerIdentity"], MAX_RATE);
  doc.setIn(["limits", "rateBurst"], MAX_RATE);
  doc.setIn(["log", "level"], "warn");
  await writeFile(configFile, doc.toString());

  const server = await issue(repoRoot, caDir, dir, "server", BENCH_IDS.server);
  const client = await issue(repoRoot, caDir, dir, "client", BENCH_IDS.client);
  const denied = await issue(repoRoot, caDir, dir, "denied", BENCH_IDS.denied);
  const sidecarToken = await joinToken(repoRoot, caDir, BENCH_IDS.server, 10_000);
  const clientSidecarToken = await joinToken(repoRoot, caDir, BENCH_IDS.client, 10_000);
  const issuanceToken = await joinToken(repoRoot, caDir, ISSUANCE_ID, 1_000_000);

  const child = spawnPinned({ name: "mesh-ca serve", core, command: process.execPath, args: [join(repoRoot, "dist/ca/cli.js"), "serve", "--config", configFile] });
  await waitFor("mesh-ca /readyz", 30_000, async () => (await httpStatus(`http://127.0.0.1:${adminPort}/readyz`)) === 200, child);
  log(`mesh-ca serving on 127.0.0.1:${apiPort} (pid ${child.pid})`);
  const bundleFile = join(caDir, "bundle.pem");
  // mesh-ca issue writes each SVID's own copy of the bundle; every client trusts the CA's one file.
  const creds = { server, client: { ...client, caFile: bundleFile }, denied: { ...denied, caFile: bundleFile } };
  return assemblePki(dir, bundleFile, creds, {
    kind: "mesh-ca",
    url: `https://127.0.0.1:${apiPort}`,
    bundleFile,
    joinToken: sidecarToken,
    clientJoinToken: clientSidecarToken,
    pid: child.pid,
    issuanceToken,
    stop: () => child.stop(),
  });
}

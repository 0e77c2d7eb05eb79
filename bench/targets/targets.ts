/**
 * The things measured: `direct` (the backend alone), `haproxy`, `sidecar`
 * (mesh-sidecar under this Node, and under Node 24 when obtained) and
 * `node-plain` (plain-proxy.ts, a floor for any Node proxy). Every
 * proxy runs alone on the proxy core and forwards to the same backend.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { BENCH_IDS, type BenchPki } from "../pki/pki.js";
import { haproxyConfig } from "./haproxy-config.js";
import type { Endpoint } from "../loadgen/connect.js";
import type { PlainProxyOptions } from "./plain-proxy.js";
import { freePort, httpStatus, runToEnd, spawnPinned, tcpOpen, waitFor, type Child } from "../machine/processes.js";
import { proxyEnv, resumes, type TicketMode } from "./tickets.js";

/** What to start. */
export type TargetSpec =
  | { readonly name: string; readonly kind: "direct" }
  | { readonly name: string; readonly kind: "haproxy" }
  | { readonly name: string; readonly kind: "sidecar"; readonly node: string; readonly proxyProtocol?: "v2" }
  | { readonly name: string; readonly kind: "plain"; readonly peerCheck: PlainProxyOptions["peerCheck"] };

/** Where targets run and what they share. */
export interface TargetContext {
  readonly repoRoot: string;
  readonly pki: BenchPki;
  readonly backendPort: number;
  readonly proxyCore: number | undefined;
  readonly haproxy: string;
  /** Session tickets, set alike on every proxy. */
  readonly tickets: TicketMode;
  /** The OpenSSL config of the ticket mode (tickets.ts). */
  readonly opensslConfFile: string;
  /** When set, the sidecar runs with `--cpu-prof` writing here. */
  readonly cpuProfileDir?: string;
  /** Extra node flags for the sidecar (e.g. --perf-basic-prof). */
  readonly sidecarNodeFlags?: readonly string[];
}

/** A started target. */
export interface RunningTarget {
  readonly spec: TargetSpec;
  /** The proxy's pid (undefined for direct). */
  readonly pid: number | undefined;
  /** The allowed client's way in. */
  readonly endpoint: Endpoint;
  /** The denied client's way in (proxies only). */
  readonly denied: Endpoint | undefined;
  /** A Node proxy's /metrics (its heap is read in the idle test). */
  readonly metricsUrl?: string;
  stop(): Promise<void>;
}

export const HOST = "127.0.0.1";
/** Room for 2,000 idle connections and then some; haproxy needs 2 fds per connection under its limit. */
export const MAX_CONNECTIONS = 8000;
const START_TIMEOUT_MS = 30_000;

/** Starts one target and waits until it accepts connections. */
export async function startTarget(spec: TargetSpec, ctx: TargetContext): Promise<RunningTarget> {
  if (spec.kind === "direct") {
    return { spec, pid: undefined, endpoint: { host: HOST, port: ctx.backendPort }, denied: undefined, stop: async () => undefined };
  }
  const port = await freePort();
  const endpoint: Endpoint = { host: HOST, port, tls: ctx.pki.client };
  const denied: Endpoint = { host: HOST, port, tls: ctx.pki.denied };
  const dir = join(ctx.pki.dir, spec.name);
  await mkdir(dir, { recursive: true });
  let child: Child;
  let metricsUrl: string | undefined;
  if (spec.kind === "haproxy") {
    child = await startHaproxy(port, dir, ctx);
  } else if (spec.kind === "plain") {
    const options: PlainProxyOptions = {
      port,
      backendPort: ctx.backendPort,
      certFile: ctx.pki.serverCertFile,
      keyFile: ctx.pki.serverKeyFile,
      caFile: ctx.pki.bundleFile,
      allowedId: BENCH_IDS.client,
      peerCheck: spec.peerCheck,
      noTicketOption: ctx.tickets === "stateful",
    };
    const args = [join(ctx.repoRoot, "dist/bench/targets/plain-proxy.js"), JSON.stringify(options)];
    const env = proxyEnv(ctx.tickets, ctx.opensslConfFile);
    child = spawnPinned({ name: spec.name, core: ctx.proxyCore, command: process.execPath, args, env });
  } else {
    const adminPort = await freePort();
    metricsUrl = `http://${HOST}:${adminPort}/metrics`;
    child = await startSidecar(spec, port, adminPort, dir, ctx);
  }
  await waitFor(`${spec.name} to listen on ${HOST}:${port}`, START_TIMEOUT_MS, () => tcpOpen(HOST, port), child);
  return { spec, pid: child.pid, endpoint, denied, ...(metricsUrl ? { metricsUrl } : {}), stop: () => child.stop() };
}

async function startHaproxy(port: number, dir: string, ctx: TargetContext): Promise<Child> {
  const cfg = haproxyConfig({
    listen: `${HOST}:${port}`,
    backend: `${HOST}:${ctx.backendPort}`,
    certFile: ctx.pki.serverPemFile,
    bundleFile: ctx.pki.bundleFile,
    allowedId: BENCH_IDS.client,
    noTlsTickets: ctx.tickets === "stateful",
    maxConnections: MAX_CONNECTIONS,
  });
  return spawnHaproxy("haproxy", join(dir, "haproxy.cfg"), cfg, ctx);
}

/** Writes `cfg`, has `haproxy -c` accept it, and starts haproxy on the proxy core. */
export async function spawnHaproxy(name: string, file: string, cfg: string, ctx: TargetContext): Promise<Child> {
  await writeFile(file, cfg);
  await runToEnd({ name: "haproxy -c", core: undefined, command: ctx.haproxy, args: ["-c", "-q", "-f", file] }, 10_000);
  const env = proxyEnv(ctx.tickets, ctx.opensslConfFile);
  return spawnPinned({ name, core: ctx.proxyCore, command: ctx.haproxy, args: ["-f", file, "-db"], env });
}

/**
 * The sidecar config for the bench: one inbound listener (with `proxyProtocol`
 * when given: the backend skips the header), the CA, a policy allowing the client.
 */
export function sidecarConfig(ctx: TargetContext, port: number, adminPort: number, policyFile: string, proxyProtocol?: "v2"): Record<string, unknown> {
  const ca = ctx.pki.ca;
  return {
    trustDomain: BENCH_IDS.trustDomain,
    ca: {
      url: ca.url,
      bundleFile: ca.bundleFile,
      ...(ca.joinToken === undefined ? { tokenFile: ca.tokenFile } : { joinToken: ca.joinToken }),
    },
    inbound: [{ name: "bench", listen: `${HOST}:${port}`, forward: `${HOST}:${ctx.backendPort}`, ...(proxyProtocol ? { proxyProtocol } : {}) }],
    policyFile,
    admin: `${HOST}:${adminPort}`,
    limits: { handshakeTimeout: "10s", idleTimeout: "1h", maxConnections: MAX_CONNECTIONS, drainGrace: "1s" },
    tls: { minVersion: "TLSv1.3", sessionResumption: resumes(ctx.tickets) },
    log: { level: "info" },
  };
}

async function startSidecar(spec: TargetSpec & { kind: "sidecar" }, port: number, adminPort: number, dir: string, ctx: TargetContext): Promise<Child> {
  const policyFile = join(dir, "policy.yaml");
  await writeFile(policyFile, stringify({ version: 1, listeners: { bench: { allow: [BENCH_IDS.client] } } }));
  return spawnSidecar(spec.node, spec.name, dir, sidecarConfig(ctx, port, adminPort, policyFile, spec.proxyProtocol), adminPort, ctx);
}

/** Writes `config` as sidecar.yaml in `dir`, starts mesh-sidecar on the proxy core, and waits for /readyz. */
export async function spawnSidecar(node: string, name: string, dir: string, config: Record<string, unknown>, adminPort: number, ctx: TargetContext): Promise<Child> {
  const cli = join(ctx.repoRoot, "dist/sidecar/cli.js");
  if (!existsSync(cli)) throw new Error(`${cli} is not built: mesh-sidecar is needed for the ${name} target`);
  const configFile = join(dir, "sidecar.yaml");
  await writeFile(configFile, stringify(config));
  const flags = [...(ctx.sidecarNodeFlags ?? [])];
  if (ctx.cpuProfileDir) flags.push("--cpu-prof", "--cpu-prof-dir", ctx.cpuProfileDir);
  const env = proxyEnv(ctx.tickets, ctx.opensslConfFile);
  const child = spawnPinned({ name, core: ctx.proxyCore, command: node, args: [...flags, cli, "--config", configFile], cwd: dir, env });
  await waitFor(`${name} /readyz`, START_TIMEOUT_MS, async () => (await httpStatus(`http://${HOST}:${adminPort}/readyz`)) === 200, child);
  return child;
}

/**
 * Real mesh-ca and mesh-sidecar processes for end-to-end and interop tests,
 * driven only through their command lines, config files and HTTP APIs (no
 * import of ca/ or sidecar/): `mesh-ca init|issue|token create|serve` and
 * `mesh-sidecar --config`. Each can run inside a network namespace.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { type ManagedProcess, type ProcessGroup, run, waitFor, httpRequest, describeExit } from "../../helpers/processes.js";

/** The repository root. */
export const REPO = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..");
export const CA_CLI = join(REPO, "dist", "ca", "cli.js");
export const SIDECAR_CLI = join(REPO, "dist", "sidecar", "cli.js");
export const SAMPLE_APP = join(REPO, "dist", "deploy", "local", "sample-app.js");
export const START_JS = join(REPO, "dist", "deploy", "local", "start.js");

export const TRUST_DOMAIN = "example.org";

/** `spiffe://example.org/ns/default/sa/<name>`. */
export function workloadId(name: string, ns = "default"): string {
  return `spiffe://${TRUST_DOMAIN}/ns/${ns}/sa/${name}`;
}

/** Fails with a useful message when the programs have not been built (npm test builds first). */
export function requireBuilt(): void {
  for (const f of [CA_CLI, SIDECAR_CLI, SAMPLE_APP, START_JS]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run "npm run build" (npm test does it first)`);
  }
}

/** `node ARGS` on the host, or inside network namespace `netns`. */
export function nodeCommand(args: readonly string[], netns?: string): { command: string; args: string[] } {
  return netns ? { command: "ip", args: ["netns", "exec", netns, process.execPath, ...args] } : { command: process.execPath, args: [...args] };
}

/** Files written by `mesh-ca issue --out PREFIX`. */
export interface SvidFiles {
  certFile: string;
  keyFile: string;
  bundleFile: string;
}

/** Runs `mesh-ca ARGS` to completion; throws with its output on a non-zero exit. */
export async function meshCa(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const r = await run({ command: process.execPath, args: [CA_CLI, ...args], env });
  if (r.code !== 0) throw new Error(`mesh-ca ${args.join(" ")} failed (${describeExit(r)}):\n${r.output}`);
  return r.stdout;
}

/** A CA directory made by `mesh-ca init`, and the offline commands that use it. */
export class CaDir {
  private constructor(readonly dir: string) {}

  /** `mesh-ca init --trust-domain example.org --dir DIR`. */
  static async init(dir: string, extraArgs: readonly string[] = []): Promise<CaDir> {
    await meshCa(["init", "--trust-domain", TRUST_DOMAIN, "--dir", dir, ...extraArgs]);
    return new CaDir(dir);
  }

  get bundleFile(): string {
    return join(this.dir, "bundle.pem");
  }

  get tokenStore(): string {
    return join(this.dir, "tokens.json");
  }

  /** `mesh-ca issue`: an SVID for `spiffeId` at `outPrefix`.{key,crt,bundle.pem}. */
  async issue(spiffeId: string, outPrefix: string, ttl = "1h"): Promise<SvidFiles> {
    await meshCa(["issue", "--dir", this.dir, "--spiffe-id", spiffeId, "--out", outPrefix, "--ttl", ttl]);
    return { certFile: `${outPrefix}.crt`, keyFile: `${outPrefix}.key`, bundleFile: `${outPrefix}.bundle.pem` };
  }

  /** `mesh-ca rotate STEP --dir DIR ARGS`, run to completion whatever its exit code. */
  async rotate(step: "prepare" | "activate" | "retire" | "status", args: readonly string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const r = await run({ command: process.execPath, args: [CA_CLI, "rotate", step, "--dir", this.dir, ...args] });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }

  /** `mesh-ca token create`: a join token bound to `spiffeId`. */
  async joinToken(spiffeId: string, { ttl = "1h", uses = 100 }: { ttl?: string; uses?: number } = {}): Promise<string> {
    const out = await meshCa(["token", "create", "--store", this.tokenStore, "--spiffe-id", spiffeId, "--ttl", ttl, "--uses", String(uses)]);
    const token = /\bmeshjt_[A-Za-z0-9_-]+/.exec(out)?.[0];
    if (!token) throw new Error("mesh-ca token create printed no meshjt_ token");
    return token;
  }
}

/** Where a process runs and how the test reaches its admin port. */
interface Placement {
  netns?: string;
}

/** GET over plain HTTP, from the host or from inside a namespace (with curl there). */
export async function fetchText(url: string, netns?: string): Promise<{ status: number; body: string }> {
  if (!netns) {
    const r = await httpRequest(url, { timeoutMs: 3_000 });
    return { status: r.status, body: r.body };
  }
  const r = await run({ command: "ip", args: ["netns", "exec", netns, "curl", "-sS", "-m", "3", "-w", "\n%{http_code}", url] }, 10_000);
  const lines = r.stdout.split("\n");
  const status = Number(lines.pop());
  return { status: Number.isFinite(status) ? status : 0, body: lines.join("\n") };
}

/** Waits for `/readyz` to answer 200; fails early if the process exits. */
export async function waitReady(adminHostPort: string, proc: ManagedProcess, { netns, timeoutMs = 30_000 }: { netns?: string; timeoutMs?: number } = {}): Promise<void> {
  let last = "";
  try {
    await waitFor(
      `${proc.name} /readyz`,
      async () => {
        if (proc.exitStatus) throw new Error(`${proc.name} exited (${describeExit(proc.exitStatus)})`);
        const r = await fetchText(`http://${adminHostPort}/readyz`, netns).catch((e: Error) => ({ status: 0, body: e.message }));
        last = `${r.status} ${r.body.trim()}`;
        return r.status === 200;
      },
      { timeoutMs, intervalMs: 200 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last /readyz answer: ${last}\n${proc.tail()}`);
  }
}

/** Options of a mesh-ca serve process; durations as in the config file. */
export interface CaServerOptions extends Placement {
  ca: CaDir;
  /** Directory for ca.yaml (default the CA directory). */
  configDir?: string;
  listen: string;
  admin: string;
  serverNames?: string[];
  svid?: { defaultTtl?: string; maxTtl?: string; backdate?: string };
  /** `bundle.refreshHint`; the CA's default (5m) when not given. */
  bundle?: { refreshHint?: string };
  /** Raised by default so short-TTL tests are not rate limited. */
  limits?: { ratePerIdentity?: number; rateBurst?: number };
  shutdownGrace?: string;
  logLevel?: string;
}

/** A `mesh-ca serve` process that can be stopped and started again with the same config. */
export class CaServer {
  proc: ManagedProcess | undefined;
  readonly configFile: string;

  constructor(
    private readonly group: ProcessGroup,
    readonly options: CaServerOptions,
  ) {
    const o = options;
    this.configFile = join(o.configDir ?? o.ca.dir, "ca.e2e.yaml");
    const config = {
      trustDomain: TRUST_DOMAIN,
      listen: o.listen,
      admin: o.admin,
      serverNames: o.serverNames ?? ["localhost", "127.0.0.1"],
      signing: { certFile: join(o.ca.dir, "ca.crt"), keyFile: join(o.ca.dir, "ca.key"), bundleFile: o.ca.bundleFile },
      svid: { defaultTtl: "1h", maxTtl: "24h", backdate: "30s", ...o.svid },
      ...(o.bundle ? { bundle: o.bundle } : {}),
      attestation: { joinTokens: { storeFile: o.ca.tokenStore } },
      limits: { ratePerIdentity: 600, rateBurst: 100, ...o.limits },
      shutdownGrace: o.shutdownGrace ?? "5s",
      log: { level: o.logLevel ?? "info" },
    };
    writeFileSync(this.configFile, stringify(config));
  }

  get apiUrl(): string {
    return `https://${this.options.listen}`;
  }

  /** Starts `mesh-ca serve` and waits until /readyz says ready. */
  async start(name = "mesh-ca"): Promise<ManagedProcess> {
    const cmd = nodeCommand([CA_CLI, "serve", "--config", this.configFile], this.options.netns);
    this.proc = this.group.start({ name, ...cmd });
    await waitReady(this.options.admin, this.proc, this.placement);
    return this.proc;
  }

  /** SIGTERM and wait for the exit. */
  async stop(): Promise<void> {
    await this.proc?.stop();
  }

  /** The /metrics text. */
  async metrics(): Promise<string> {
    return (await fetchText(`http://${this.options.admin}/metrics`, this.options.netns)).body;
  }

  private get placement(): { netns?: string } {
    return this.options.netns ? { netns: this.options.netns } : {};
  }
}

/** One inbound listener of a sidecar config. */
export interface InboundSpec {
  name: string;
  listen: string;
  forward: string;
  proxyProtocol?: "v2";
}

/** One outbound listener of a sidecar config. */
export interface OutboundSpec {
  name: string;
  listen: string;
  upstream: string;
  expectedPeer: string;
}

/** Options of a mesh-sidecar process; every key maps to docs/configuration.md. */
export interface SidecarOptions extends Placement {
  name: string;
  /** Directory for its config and policy files. */
  dir: string;
  caUrl: string;
  bundleFile: string;
  joinToken: string;
  expectedId?: string;
  ttl?: string;
  bundleRefresh?: string;
  inbound?: InboundSpec[];
  outbound?: OutboundSpec[];
  /** Policy file text (YAML); written beside the config when there is an inbound listener. */
  policy?: string;
  admin: string;
  limits?: { handshakeTimeout?: string; idleTimeout?: string; maxConnections?: number; drainGrace?: string };
  tls?: { minVersion?: "TLSv1.2" | "TLSv1.3" };
  renewal?: { fraction?: number; jitter?: number; backoffBase?: string; backoffCap?: string };
  logLevel?: string;
}

/** A policy allowing `allowed` peer IDs on each named listener. */
export function policyYaml(listeners: Record<string, { allow?: string[]; deny?: string[] }>): string {
  return stringify({ version: 1, listeners });
}

/** A `mesh-sidecar --config FILE` process. */
export class Sidecar {
  proc: ManagedProcess | undefined;
  readonly configFile: string;
  readonly policyFile: string;

  constructor(
    private readonly group: ProcessGroup,
    readonly options: SidecarOptions,
  ) {
    const o = options;
    mkdirSync(o.dir, { recursive: true });
    this.configFile = join(o.dir, `${o.name}.sidecar.yaml`);
    this.policyFile = join(o.dir, `${o.name}.policy.yaml`);
    const config: Record<string, unknown> = {
      trustDomain: TRUST_DOMAIN,
      ca: {
        url: o.caUrl,
        bundleFile: o.bundleFile,
        joinToken: "${MESH_JOIN_TOKEN}",
        ...(o.expectedId ? { expectedId: o.expectedId } : {}),
        ...(o.ttl ? { ttl: o.ttl } : {}),
        ...(o.bundleRefresh ? { bundleRefresh: o.bundleRefresh } : {}),
      },
      inbound: o.inbound ?? [],
      outbound: o.outbound ?? [],
      admin: o.admin,
      limits: { drainGrace: "5s", ...o.limits },
      log: { level: o.logLevel ?? "info" },
    };
    if (o.tls) config.tls = o.tls;
    if (o.renewal) config.renewal = o.renewal;
    if ((o.inbound ?? []).length > 0) {
      config.policyFile = this.policyFile;
      writeFileSync(this.policyFile, o.policy ?? policyYaml({}));
    }
    writeFileSync(this.configFile, stringify(config));
  }

  /** Starts the sidecar (join token from the environment, as in deploy/local) and waits until ready. */
  async start({ waitUntilReady = true } = {}): Promise<ManagedProcess> {
    const cmd = nodeCommand([SIDECAR_CLI, "--config", this.configFile], this.options.netns);
    this.proc = this.group.start({ name: this.options.name, ...cmd, env: { ...process.env, MESH_JOIN_TOKEN: this.options.joinToken } });
    if (waitUntilReady) await waitReady(this.options.admin, this.proc, this.options.netns ? { netns: this.options.netns } : {});
    return this.proc;
  }

  /**
   * Replaces the policy file's content in one step (write a temporary file,
   * rename it over the old one, as editors and `kubectl` do), so the sidecar
   * never sees half a file. It reloads on its own.
   */
  writePolicy(text: string): void {
    const tmp = `${this.policyFile}.tmp-${process.pid}`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.policyFile);
  }

  /** The /metrics text. */
  async metrics(): Promise<string> {
    return (await fetchText(`http://${this.options.admin}/metrics`, this.options.netns)).body;
  }

  /** HTTP status of /readyz (0 when it does not answer). */
  async readyStatus(): Promise<number> {
    return (await fetchText(`http://${this.options.admin}/readyz`, this.options.netns).catch(() => ({ status: 0, body: "" }))).status;
  }
}

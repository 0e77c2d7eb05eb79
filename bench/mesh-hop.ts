/**
 * Between sidecars: new connections across one mesh hop, plaintext client →
 * outbound proxy → mTLS → inbound proxy → backend, both proxies on the proxy
 * core. What a connection costs here is what it costs a mesh: both sides of
 * the handshake, and, where the outbound side resumes, a resumed one.
 *
 * - `haproxy-pair`: haproxy outbound (client SVID, upstream chain verified;
 *   it cannot check a URI SAN, bench/targets/haproxy-config.ts) to the bench's
 *   haproxy inbound. haproxy reuses the last session per server by default.
 * - `sidecar-pair`: mesh-sidecar outbound (expectedPeer = the server ID) to
 *   the bench's sidecar inbound, tls.sessionResumption as the ticket mode
 *   says (on with the default "one").
 * - `sidecar-pair-full`: the same with the outbound's resumption off: every
 *   connection a full handshake, the figure resumption is measured against.
 *
 * The load generator reads both proxies' CPU time at the window's edges. For
 * the sidecar pairs the outbound's /metrics tells how many handshakes resumed.
 */
import { mkdir } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { BENCH_IDS } from "./pki/pki.js";
import { haproxyOutboundConfig } from "./targets/haproxy-config.js";
import type { FigureDef } from "./report/report.js";
import { plain } from "./report/report.js";
import { runLoad, type LoadContext } from "./loadgen/run-load.js";
import type { PhaseSettings } from "./phases.js";
import { freePort, tcpOpen, waitFor, type Child } from "./machine/processes.js";
import { HOST, MAX_CONNECTIONS, spawnHaproxy, spawnSidecar, startTarget, type RunningTarget, type TargetContext } from "./targets/targets.js";
import { resumes } from "./targets/tickets.js";

/** The pairs measured, in print order; ratios are to haproxy-pair. */
export const HOP_NAMES = ["haproxy-pair", "sidecar-pair", "sidecar-pair-full"] as const;
export type HopName = (typeof HOP_NAMES)[number];

/** Figures of one pair in one round. */
export interface HopFigures {
  /** New connections per second through the hop (offered by the load generator). */
  hopConnsPerSec: number;
  /** CPU of both proxies per new connection, µs. */
  hopCpuUs: number;
  /** 1 / hopCpuUs: new connections per CPU-second of the pair. */
  hopConnsPerCpuSec: number;
  hopOutboundCpuUs: number;
  hopInboundCpuUs: number;
  /** Share of the outbound's accepted handshakes that resumed (sidecar pairs; NaN for haproxy). */
  hopResumedShare: number;
  errors: number;
}

/** The rows of the mesh-hop table. */
export const HOP_FIGURES: readonly FigureDef<HopFigures>[] = [
  { key: "hopConnsPerSec", label: "new conns/s through the hop (offered by loadgen)", better: "higher", read: plain<HopFigures>("hopConnsPerSec") },
  { key: "hopCpuUs", label: "CPU of both proxies per new conn, µs", better: "lower", read: plain<HopFigures>("hopCpuUs") },
  { key: "hopConnsPerCpuSec", label: "new conns per CPU-second of the pair", better: "higher", read: plain<HopFigures>("hopConnsPerCpuSec") },
  { key: "hopOutboundCpuUs", label: "outbound proxy CPU per conn, µs", better: "lower", read: plain<HopFigures>("hopOutboundCpuUs") },
  { key: "hopInboundCpuUs", label: "inbound proxy CPU per conn, µs", better: "lower", read: plain<HopFigures>("hopInboundCpuUs") },
  { key: "hopResumedShare", label: "share of outbound handshakes resumed", better: "info", read: plain<HopFigures>("hopResumedShare") },
  { key: "errors", label: "failed operations", better: "info", read: plain<HopFigures>("errors") },
];

/** A started outbound proxy. */
interface Outbound {
  readonly child: Child;
  readonly port: number;
  /** The sidecar's admin address, for its /metrics. */
  readonly admin?: string;
}

async function startHaproxyOutbound(upstreamPort: number, dir: string, ctx: TargetContext): Promise<Outbound> {
  const port = await freePort();
  const cfg = haproxyOutboundConfig({
    listen: `${HOST}:${port}`,
    upstream: `${HOST}:${upstreamPort}`,
    certFile: ctx.pki.clientPemFile,
    bundleFile: ctx.pki.bundleFile,
    maxConnections: MAX_CONNECTIONS,
  });
  const child = await spawnHaproxy("haproxy-outbound", join(dir, "haproxy-outbound.cfg"), cfg, ctx);
  return { child, port };
}

async function startSidecarOutbound(upstreamPort: number, resumption: boolean, dir: string, ctx: TargetContext): Promise<Outbound> {
  const ca = ctx.pki.ca;
  const port = await freePort();
  const adminPort = await freePort();
  const config = {
    trustDomain: BENCH_IDS.trustDomain,
    ca: {
      url: ca.url,
      bundleFile: ca.bundleFile,
      ...(ca.clientJoinToken === undefined ? { tokenFile: ca.clientTokenFile } : { joinToken: ca.clientJoinToken }),
    },
    outbound: [{ name: "hop", listen: `${HOST}:${port}`, upstream: `${HOST}:${upstreamPort}`, expectedPeer: BENCH_IDS.server }],
    admin: `${HOST}:${adminPort}`,
    limits: { handshakeTimeout: "10s", idleTimeout: "1h", maxConnections: MAX_CONNECTIONS, drainGrace: "1s" },
    tls: { minVersion: "TLSv1.3", sessionResumption: resumption },
    log: { level: "info" },
  };
  const child = await spawnSidecar(process.execPath, "sidecar-outbound", dir, config, adminPort, ctx);
  return { child, port, admin: `http://${HOST}:${adminPort}` };
}

/** GET `url` as text. */
function httpText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve(body));
    })
      .on("error", reject)
      .end();
  });
}

/** A counter's value from Prometheus text, by its full series name with labels. */
export function seriesValue(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

/** Share of the outbound sidecar's accepted handshakes that resumed. */
async function resumedShare(admin: string): Promise<number> {
  const text = await httpText(`${admin}/metrics`);
  const ok = seriesValue(text, 'mesh_sidecar_tls_handshakes_total{listener="hop",direction="outbound",result="ok"}');
  const resumed = seriesValue(text, 'mesh_sidecar_tls_sessions_resumed_total{listener="hop",direction="outbound"}');
  return resumed / ok;
}

/** Starts one pair, runs the new-connection test through it, and stops it. */
export async function runHop(name: HopName, s: PhaseSettings, tctx: TargetContext, lctx: LoadContext): Promise<HopFigures> {
  const dir = join(tctx.pki.dir, name);
  await mkdir(dir, { recursive: true });
  const kind = name === "haproxy-pair" ? "haproxy" : "sidecar";
  const inbound: RunningTarget = await startTarget(kind === "haproxy" ? { name: `${name}-inbound`, kind } : { name: `${name}-inbound`, kind, node: process.execPath }, tctx);
  let outbound: Outbound | undefined;
  try {
    outbound =
      kind === "haproxy"
        ? await startHaproxyOutbound(inbound.endpoint.port, dir, tctx)
        : await startSidecarOutbound(inbound.endpoint.port, name === "sidecar-pair" && resumes(tctx.tickets), dir, tctx);
    const port = outbound.port;
    await waitFor(`${name} outbound to listen on ${HOST}:${port}`, 30_000, () => tcpOpen(HOST, port), outbound.child);
    const r = await runLoad(
      {
        kind: "handshake",
        target: { host: HOST, port },
        concurrency: s.handshakeConcurrency,
        warmupMs: s.warmupMs,
        durationMs: s.durationMs,
        cpuPid: outbound.child.pid,
        ...(inbound.pid === undefined ? {} : { moreCpuPids: [inbound.pid] }),
      },
      lctx,
    );
    const [out, inn] = r.proxyCpuEach ?? [Number.NaN, Number.NaN];
    const hopCpuUs = (r.proxyCpu / r.ops) * 1e6;
    return {
      hopConnsPerSec: r.ops / r.seconds,
      hopCpuUs,
      hopConnsPerCpuSec: 1e6 / hopCpuUs,
      hopOutboundCpuUs: ((out ?? Number.NaN) / r.ops) * 1e6,
      hopInboundCpuUs: ((inn ?? Number.NaN) / r.ops) * 1e6,
      hopResumedShare: outbound.admin === undefined ? Number.NaN : await resumedShare(outbound.admin),
      errors: r.errors,
    };
  } finally {
    await outbound?.child.stop();
    await inbound.stop();
  }
}

/**
 * One round against one target: the probe, then each test as a run of the
 * load generator process on the load core, turned into figures.
 */
import { runLoad, type LoadContext } from "./loadgen/run-load.js";
import type { RunningTarget } from "./targets/targets.js";

/** How long and how hard each test runs. */
export interface PhaseSettings {
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly handshakeConcurrency: number;
  readonly bulkConnections: number;
  readonly latencyConnections: number;
  readonly latencyRate: number;
  readonly latencyMessageBytes: number;
  readonly idleConnections: number;
  readonly idleConcurrency: number;
  readonly idleSettleMs: number;
}

/** Figures of one target in one round; NaN where a test does not apply or failed. */
export interface RoundFigures {
  handshakesPerSec: number;
  /** Proxy CPU per new connection (handshake + 16-byte echo + close), µs. */
  handshakeCpuUs: number;
  /** 1 / handshakeCpuUs: what one proxy core could do if the load generator kept up. */
  handshakesPerCpuSec: number;
  /** Share of its core the load generator used in the handshake test (≈1: it was the bottleneck). */
  handshakeLoadgenBusy: number;
  /** Proxy CPU per new connection when the client resumes the session, µs (NaN when not measured). */
  resumedCpuUs: number;
  /** 1 / resumedCpuUs. */
  resumedPerCpuSec: number;
  /** Share of the counted connections that did resume (should be ~1). */
  resumedShare: number;
  downloadMBps: number;
  downloadCpuSecPerGB: number;
  uploadMBps: number;
  uploadCpuSecPerGB: number;
  latencyP50Us: number;
  latencyP99Us: number;
  latencyCpuUsPerReq: number;
  /** RSS of the proxy holding the idle connections, MB. */
  idleRssMB: number;
  /** (RSS holding them − RSS of the fresh process) / connections held, KiB. */
  idleRssPerConnKB: number;
  /** The same for the V8 heap in use (Node proxies; NaN for haproxy): the rest of the RSS is native. */
  idleHeapPerConnKB: number;
  idleHeld: number;
  /** Session tickets the target sent per full handshake (probe). */
  tickets: number;
  errors: number;
}

/** Figures that the probe gathers once per target per round. */
export interface ProbeFacts {
  readonly protocol: string;
  readonly cipher: string;
  readonly group: string;
  readonly tickets: number;
  readonly deniedRefused: boolean | undefined;
}

const MB = 1e6;
const GB = 1e9;

/** Runs the probe: what the target negotiates and whether it refuses the denied client. */
export async function probeTarget(target: RunningTarget, ctx: LoadContext): Promise<ProbeFacts> {
  const r = await runLoad({ kind: "probe", target: target.endpoint, ...(target.denied ? { denied: target.denied } : {}) }, ctx);
  if (r.ops !== 1) throw new Error(`${target.spec.name}: the allowed client's 16 bytes did not come back`);
  return {
    protocol: r.protocol ?? "?",
    cipher: r.cipher ?? "?",
    group: r.group ?? "?",
    tickets: r.tickets ?? 0,
    deniedRefused: r.deniedRefused,
  };
}

/** Figures of the tests that load a running target (all but the idle-RSS test). */
export type ActiveFigures = Omit<RoundFigures, "idleRssMB" | "idleRssPerConnKB" | "idleHeapPerConnKB" | "idleHeld" | "tickets">;

/** Figures of the idle-RSS test. */
export type IdleFigures = Pick<RoundFigures, "idleRssMB" | "idleRssPerConnKB" | "idleHeapPerConnKB" | "idleHeld" | "errors">;

/**
 * Runs the new-connection, bulk and latency tests against a started target;
 * with `resumption`, also new connections that resume a session (TLS targets).
 */
export async function runActive(target: RunningTarget, s: PhaseSettings, ctx: LoadContext, resumption: boolean): Promise<ActiveFigures> {
  const timed = { target: target.endpoint, warmupMs: s.warmupMs, durationMs: s.durationMs, ...(target.pid ? { cpuPid: target.pid } : {}) };
  const hs = await runLoad({ kind: "handshake", concurrency: s.handshakeConcurrency, ...timed }, ctx);
  const resumed = resumption && target.endpoint.tls ? await runLoad({ kind: "handshake", concurrency: s.handshakeConcurrency, resume: true, ...timed }, ctx) : undefined;
  const resumedCpuUs = resumed ? (resumed.proxyCpu / resumed.ops) * 1e6 : Number.NaN;
  const down = await runLoad({ kind: "download", connections: s.bulkConnections, ...timed }, ctx);
  const up = await runLoad({ kind: "upload", connections: s.bulkConnections, ...timed }, ctx);
  const lat = await runLoad(
    { kind: "latency", connections: s.latencyConnections, ratePerSecond: s.latencyRate, messageBytes: s.latencyMessageBytes, ...timed },
    ctx,
  );
  const handshakeCpuUs = (hs.proxyCpu / hs.ops) * 1e6;
  return {
    handshakesPerSec: hs.ops / hs.seconds,
    handshakeCpuUs,
    handshakesPerCpuSec: 1e6 / handshakeCpuUs,
    handshakeLoadgenBusy: hs.loadgenCpu / hs.seconds,
    resumedCpuUs,
    resumedPerCpuSec: 1e6 / resumedCpuUs,
    resumedShare: resumed ? (resumed.resumed ?? 0) / resumed.ops : Number.NaN,
    downloadMBps: down.bytes / MB / down.seconds,
    downloadCpuSecPerGB: down.proxyCpu / (down.bytes / GB),
    uploadMBps: up.bytes / MB / up.seconds,
    uploadCpuSecPerGB: up.proxyCpu / (up.bytes / GB),
    latencyP50Us: lat.p50Us ?? Number.NaN,
    latencyP99Us: lat.p99Us ?? Number.NaN,
    latencyCpuUsPerReq: (lat.proxyCpu / lat.ops) * 1e6,
    errors: hs.errors + (resumed?.errors ?? 0) + down.errors + up.errors + lat.errors,
  };
}

/**
 * Holds idle connections open through a freshly started target: a process
 * that has just carried gigabytes has a grown heap that would absorb new
 * connections unseen, so the baseline is the fresh process.
 */
export async function runIdle(target: RunningTarget, s: PhaseSettings, ctx: LoadContext): Promise<IdleFigures> {
  const idle = await runLoad(
    {
      kind: "idle",
      target: target.endpoint,
      connections: s.idleConnections,
      concurrency: s.idleConcurrency,
      settleMs: s.idleSettleMs,
      ...(target.pid ? { rssPid: target.pid } : {}),
      ...(target.metricsUrl ? { metricsUrl: target.metricsUrl } : {}),
    },
    ctx,
  );
  const delta = (idle.rssAfter ?? Number.NaN) - (idle.rssBefore ?? Number.NaN);
  const heapDelta = (idle.heapAfter ?? Number.NaN) - (idle.heapBefore ?? Number.NaN);
  return {
    idleRssMB: (idle.rssAfter ?? Number.NaN) / MB,
    idleRssPerConnKB: delta / idle.ops / 1024,
    idleHeapPerConnKB: heapDelta / idle.ops / 1024,
    idleHeld: idle.ops,
    errors: idle.errors + (s.idleConnections - idle.ops),
  };
}

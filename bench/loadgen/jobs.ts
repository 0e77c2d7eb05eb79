/**
 * The jobs the load generator process runs and the one result line it prints.
 * Shared by loadgen.ts (the process) and run-load.ts (the caller).
 */
import type { Endpoint } from "./connect.js";

interface Timed {
  readonly target: Endpoint;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** The proxy's pid: its CPU time is read at the window's edges. */
  readonly cpuPid?: number;
}

/** One job for one process run. */
export type LoadJob =
  | (Timed & {
      readonly kind: "handshake";
      readonly concurrency: number;
      readonly resume?: boolean;
      /** More proxies on the path whose CPU time counts too (the mesh hop's inbound proxy). */
      readonly moreCpuPids?: readonly number[];
    })
  | (Timed & { readonly kind: "download" | "upload"; readonly connections: number })
  | (Timed & { readonly kind: "latency"; readonly connections: number; readonly ratePerSecond: number; readonly messageBytes: number })
  | {
      readonly kind: "idle";
      readonly target: Endpoint;
      readonly connections: number;
      readonly concurrency: number;
      readonly settleMs: number;
      readonly rssPid?: number;
      /** A Node proxy's /metrics URL: its V8 heap is read with the RSS, to split RSS into heap and native. */
      readonly metricsUrl?: string;
    }
  | { readonly kind: "probe"; readonly target: Endpoint; readonly denied?: Endpoint };

/** What a job measured; fields a job does not measure are absent or NaN. */
export interface LoadResult {
  /** Length of the measuring window (or of the transfer, for uploads). */
  readonly seconds: number;
  /** Each proxy's CPU seconds, in the order cpuPid, ...moreCpuPids (only when there are several). */
  readonly proxyCpuEach?: readonly number[];
  /** Proxy CPU seconds in the window, summed over every proxy on the path; NaN without cpuPid. */
  readonly proxyCpu: number;
  /** The load generator's own CPU seconds in the window (is it the bottleneck?). */
  readonly loadgenCpu: number;
  /** Completed operations: handshakes, requests, held connections. */
  readonly ops: number;
  readonly errors: number;
  readonly bytes: number;
  readonly p50Us?: number;
  readonly p99Us?: number;
  readonly rssBefore?: number;
  readonly rssAfter?: number;
  readonly heapBefore?: number;
  readonly heapAfter?: number;
  /** handshake with resume: the counted connections that resumed a session. */
  readonly resumed?: number;
  /** probe: TLS 1.3 session tickets the server sent on one connection. */
  readonly tickets?: number;
  readonly protocol?: string;
  readonly cipher?: string;
  readonly group?: string;
  /** probe: whether a client outside the policy got nothing through. */
  readonly deniedRefused?: boolean;
}

/** A job of bench/ca/load.ts: bare TLS handshakes to the CA, or full SVID issuances. */
export interface CaLoadJob {
  readonly kind: "ca-handshake" | "ca-issue";
  /** https://127.0.0.1:port of mesh-ca. */
  readonly url: string;
  /** Roots that sign the CA's serving certificate. */
  readonly caFile: string;
  /** Bearer token for POST /v1/svid (ca-issue). */
  readonly token?: string;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** The CA's pid, for its CPU time. */
  readonly cpuPid?: number;
}

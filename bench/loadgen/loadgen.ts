/**
 * The load generator, run as its own process pinned to another core than the
 * proxy: `node dist/bench/loadgen/loadgen.js '<job JSON>'` runs one job and prints one
 * JSON result line. When the job names `cpuPid`, the proxy's CPU time is read
 * from /proc at the exact edges of the measuring window.
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { open } from "./connect.js";
import type { LoadJob, LoadResult } from "./jobs.js";
import { probe } from "./probe.js";
import { readCpuTime, readRssBytes } from "../machine/proc.js";
import { percentile } from "../report/stats.js";

const ECHO_BYTES = 16;
const BLOCK = Buffer.alloc(64 * 1024, 0x62);

const now = (): number => performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Samples proxy and own CPU at a window's edges. */
class Window {
  private readonly pids: readonly number[];
  private cpu0: number[] = [];
  private self0 = process.cpuUsage();
  private t0 = 0;
  result: { seconds: number; proxyCpu: number; loadgenCpu: number; proxyCpuEach?: number[] } = { seconds: 0, proxyCpu: Number.NaN, loadgenCpu: 0 };
  /** `pid` is the proxy; `morePids` further proxies on the path (the mesh-hop test), reported one by one too. */
  constructor(pid: number | undefined, morePids: readonly number[] = []) {
    this.pids = pid === undefined ? [] : [pid, ...morePids];
  }
  open(): void {
    this.t0 = now();
    this.self0 = process.cpuUsage();
    this.cpu0 = this.pids.map((p) => readCpuTime(p).total);
  }
  close(): void {
    const self = process.cpuUsage(this.self0);
    const each = this.pids.map((p, i) => readCpuTime(p).total - (this.cpu0[i] ?? 0));
    this.result = {
      seconds: (now() - this.t0) / 1000,
      proxyCpu: each.length === 0 ? Number.NaN : each.reduce((a, b) => a + b, 0),
      loadgenCpu: (self.user + self.system) / 1e6,
      ...(each.length > 1 ? { proxyCpuEach: each } : {}),
    };
  }
}

/**
 * New connection, 16-byte echo, close; `concurrency` of them in flight. With
 * `resume`, every connection offers the latest session ticket received (as
 * a sidecar's outbound listener does) and the resumed ones are counted.
 */
async function handshakes(job: Extract<LoadJob, { kind: "handshake" }>): Promise<LoadResult> {
  const win = new Window(job.cpuPid, job.moreCpuPids);
  const message = Buffer.alloc(ECHO_BYTES, 0x45);
  let counting = false;
  let stopping = false;
  let ops = 0;
  let resumed = 0;
  let session: Buffer | undefined;
  let errors = 0;
  let active = 0;
  let allClosed: () => void = () => undefined;
  const start = (): void => {
    if (stopping) {
      if (active === 0) allClosed();
      return;
    }
    active++;
    let got = 0;
    let ok = false;
    const offered = job.resume ? session : undefined;
    const socket = open(job.target, (s) => s.write(message), offered);
    if (job.resume) socket.on("session", (ticket: Buffer) => (session = ticket));
    socket.on("data", (chunk: Buffer) => {
      got += chunk.length;
      if (got >= ECHO_BYTES && !ok) {
        ok = true;
        if (counting) {
          ops++;
          if (offered && (socket as TLSSocket).isSessionReused()) resumed++;
        }
        socket.end();
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      if (!ok && counting) errors++;
      active--;
      start();
    });
  };
  for (let i = 0; i < job.concurrency; i++) start();
  await sleep(job.warmupMs);
  counting = true;
  win.open();
  await sleep(job.durationMs);
  win.close();
  counting = false;
  stopping = true;
  await Promise.race([new Promise<void>((r) => (allClosed = r)), sleep(5000)]);
  return { ...win.result, ops, errors, bytes: 0, ...(job.resume ? { resumed } : {}) };
}

/** `connections` long transfers, downloading ('D') or uploading ('U'). */
async function bulk(job: Extract<LoadJob, { kind: "download" | "upload" }>): Promise<LoadResult> {
  const win = new Window(job.cpuPid);
  const sockets: Socket[] = [];
  let received = 0;
  let errors = 0;
  const ready = job.connections;
  let connected = 0;
  let allConnected: () => void = () => undefined;
  const connectedAll = new Promise<void>((r) => (allConnected = r));
  const answers: Promise<{ bytes: number; seconds: number }>[] = [];
  for (let i = 0; i < job.connections; i++) {
    const socket = open(job.target, () => {
      if (++connected === ready) allConnected();
    });
    socket.on("error", () => errors++);
    sockets.push(socket);
    if (job.kind === "download") {
      socket.on("data", (chunk: Buffer) => (received += chunk.length));
    } else {
      answers.push(
        new Promise((resolve) => {
          const parts: Buffer[] = [];
          socket.on("data", (c: Buffer) => parts.push(c));
          socket.on("close", () => {
            const a = Buffer.concat(parts);
            resolve(a.length >= 16 ? { bytes: Number(a.readBigUInt64BE(0)), seconds: Number(a.readBigUInt64BE(8)) / 1e9 } : { bytes: 0, seconds: 0 });
          });
        }),
      );
    }
  }
  await Promise.race([connectedAll, sleep(10_000)]);
  let stop = false;
  // Upload bytes are counted by the backend over the whole transfer, so the
  // CPU window spans it too; download bytes are counted after the warm-up.
  if (job.kind === "upload") win.open();
  for (const socket of sockets) {
    if (job.kind === "download") {
      socket.write("D");
    } else {
      socket.write("U");
      const pump = (): void => {
        while (!stop && !socket.destroyed && socket.write(BLOCK));
      };
      socket.on("drain", pump);
      pump();
    }
  }
  await sleep(job.warmupMs);
  const before = received;
  const t0 = now();
  if (job.kind === "download") win.open();
  await sleep(job.durationMs);
  if (job.kind === "download") {
    const bytes = received - before;
    const seconds = (now() - t0) / 1000;
    win.close();
    for (const s of sockets) s.destroy();
    return { ...win.result, seconds, ops: job.connections, errors, bytes };
  }
  stop = true;
  for (const s of sockets) s.end();
  const totals = await Promise.race([Promise.all(answers), sleep(30_000).then(() => [])]);
  win.close();
  const bytes = totals.reduce((sum, t) => sum + t.bytes, 0);
  const seconds = Math.max(0, ...totals.map((t) => t.seconds));
  for (const s of sockets) s.destroy();
  return { ...win.result, seconds, ops: job.connections, errors: errors + (totals.length === job.connections ? 0 : 1), bytes };
}

/** Fixed-rate echo requests over persistent connections; latency from send to full answer. */
async function latency(job: Extract<LoadJob, { kind: "latency" }>): Promise<LoadResult> {
  const win = new Window(job.cpuPid);
  const sockets = await Promise.all(
    Array.from({ length: job.connections }, () => new Promise<Socket>((resolve) => open(job.target, resolve).on("error", () => undefined))),
  );
  const samples: number[] = [];
  const message = Buffer.alloc(job.messageBytes, 0x4c);
  const interval = (1000 * job.connections) / job.ratePerSecond;
  const t0 = now();
  const windowStart = t0 + job.warmupMs;
  const windowEnd = windowStart + job.durationMs;
  let ops = 0;
  let errors = 0;
  let finished = false;
  const runs = sockets.map(
    (socket, i) =>
      new Promise<void>((resolve) => {
        let next = t0 + (i * 1000) / job.ratePerSecond;
        let sentAt = 0;
        let got = 0;
        const send = (): void => {
          if (now() >= windowEnd) return resolve();
          sentAt = now();
          got = 0;
          socket.write(message);
        };
        socket.on("data", (chunk: Buffer) => {
          got += chunk.length;
          if (got < job.messageBytes) return;
          if (sentAt >= windowStart) {
            samples.push((now() - sentAt) * 1000);
            ops++;
          }
          next += interval;
          const wait = next - now();
          if (wait > 0) setTimeout(send, wait);
          else send();
        });
        socket.on("close", () => {
          if (!finished) errors++;
          resolve();
        });
        setTimeout(send, Math.max(0, next - now()));
      }),
  );
  await sleep(Math.max(0, windowStart - now()));
  win.open();
  await sleep(Math.max(0, windowEnd - now()));
  win.close();
  await Promise.all(runs);
  finished = true;
  for (const s of sockets) s.destroy();
  return { ...win.result, ops, errors, bytes: 0, p50Us: percentile(samples, 50), p99Us: percentile(samples, 99) };
}

/** The V8 heap in use of a Node proxy, from its /metrics (prom-client's nodejs_heap_size_used_bytes). */
async function heapUsed(metricsUrl: string | undefined): Promise<number> {
  if (metricsUrl === undefined) return Number.NaN;
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split("\n").find((l) => l.startsWith("nodejs_heap_size_used_bytes "));
  return line === undefined ? Number.NaN : Number(line.split(" ")[1]);
}

/** Holds `connections` established, echoed connections idle and reads the proxy's RSS (and a Node proxy's heap). */
async function idle(job: Extract<LoadJob, { kind: "idle" }>): Promise<LoadResult> {
  const rssBefore = job.rssPid === undefined ? Number.NaN : readRssBytes(job.rssPid);
  const heapBefore = await heapUsed(job.metricsUrl);
  const sockets: Socket[] = [];
  let errors = 0;
  const t0 = now();
  const message = Buffer.alloc(ECHO_BYTES, 0x49);
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      let got = 0;
      const socket = open(job.target, (s) => s.write(message));
      socket.on("data", (chunk: Buffer) => {
        got += chunk.length;
        if (got >= ECHO_BYTES) resolve();
      });
      socket.on("error", () => undefined);
      socket.on("close", () => {
        if (got < ECHO_BYTES) errors++;
        resolve();
      });
      sockets.push(socket);
    });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < job.connections) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const seconds = (now() - t0) / 1000;
  await sleep(job.settleMs);
  const open_ = sockets.filter((s) => !s.destroyed).length;
  const rssAfter = job.rssPid === undefined ? Number.NaN : readRssBytes(job.rssPid);
  const heapAfter = await heapUsed(job.metricsUrl);
  for (const s of sockets) s.destroy();
  return { seconds, proxyCpu: Number.NaN, loadgenCpu: 0, ops: open_, errors, bytes: 0, rssBefore, rssAfter, heapBefore, heapAfter };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "{}") as LoadJob;
  let result: LoadResult;
  switch (job.kind) {
    case "handshake":
      result = await handshakes(job);
      break;
    case "download":
    case "upload":
      result = await bulk(job);
      break;
    case "latency":
      result = await latency(job);
      break;
    case "idle":
      result = await idle(job);
      break;
    case "probe":
      result = await probe(job.target, job.denied);
      break;
    default:
      throw new Error(`loadgen: unknown job ${JSON.stringify(job)}`);
  }
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`loadgen: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

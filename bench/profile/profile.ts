/**
 * `npm run bench -- --profile [--profile-test T]`: where the time goes in one
 * test (new connections by default; resumed connections, download or upload
 * on request). The sidecar runs with `node --cpu-prof` (JavaScript self time) and,
 * when perf works, every proxy is sampled with perf (native: OpenSSL, libuv,
 * kernel). Summaries are printed and written to bench/results/.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { summarizeCpuProfile, type CpuProfile, type ProfileSummary } from "./cpuprofile.js";
import { perfLandmarks, perfRecord, perfReport, perfUsable, type Landmark, type PerfSymbol } from "./perf-report.js";
import { runLoad, type LoadContext } from "../loadgen/run-load.js";
import { layout } from "../report/report.js";
import type { LoadJob } from "../loadgen/jobs.js";
import type { BenchSettings, ProfileTest } from "../settings.js";
import { startTarget, type RunningTarget, type TargetContext, type TargetSpec } from "../targets/targets.js";

const PROFILE_MS = 6000;
const WARMUP_MS = 500;

interface ProxyProfile {
  readonly target: string;
  readonly test: ProfileTest;
  /** Connections made, or bytes moved (bulk tests). */
  readonly ops: number;
  /** µs per connection, or s per GB (bulk tests). */
  readonly cpuPerOp: number;
  readonly v8?: ProfileSummary;
  readonly perf?: { readonly symbols: PerfSymbol[]; readonly dsos: PerfSymbol[]; readonly landmarks: Landmark[] };
}

/** C++ template symbols run to hundreds of characters; the head names them well enough. */
function shorten(symbol: string, max = 100): string {
  return symbol.length > max ? `${symbol.slice(0, max - 3)}...` : symbol;
}

function pct(n: number): string {
  return `${n.toFixed(1)}%`;
}

/** Text of one proxy's profile. */
export function renderProfile(p: ProxyProfile, top = 20): string {
  const bulk = p.test === "download" || p.test === "upload";
  const head = bulk
    ? `== ${p.target}, ${p.test}: ${(p.ops / 1e9).toFixed(2)} GB, ${p.cpuPerOp.toFixed(2)} s proxy CPU per GB`
    : `== ${p.target}, ${p.test === "resumed" ? "resumed" : "new"} connections: ${p.ops}, ${p.cpuPerOp.toFixed(0)} µs proxy CPU each`;
  const parts = [head];
  if (p.v8) {
    parts.push(`V8 --cpu-prof, busy ${p.v8.busyMs.toFixed(0)} ms; self time by area:`);
    parts.push(layout(["area", "self"], p.v8.areas.slice(0, 10).map((a) => [a.name, pct(a.percent)]), false));
    parts.push("top functions by self time:");
    parts.push(layout(["function", "self"], p.v8.functions.slice(0, top).map((f) => [f.name, pct(f.percent)]), false));
  }
  if (p.perf) {
    parts.push("perf, share of samples by library:");
    parts.push(layout(["library", "share"], p.perf.dsos.slice(0, 10).map((d) => [d.dso, pct(d.percent)]), false));
    if (p.perf.landmarks.length > 0) {
      parts.push("perf, inclusive share of landmark functions (call graphs; unresolved in stripped libraries):");
      parts.push(layout(["function", "what it is", "incl."], p.perf.landmarks.map((l) => [l.symbol.replace(/^.*::/, ""), l.meaning, pct(l.percent)]), false));
    }
    parts.push("perf, top symbols (self):");
    parts.push(layout(["symbol", "library", "share"], p.perf.symbols.slice(0, top).map((s) => [shorten(s.symbol), s.dso, pct(s.percent)]), false));
  }
  return parts.join("\n");
}

/** The load job of `test` against `target`. */
function jobFor(test: ProfileTest, target: RunningTarget): LoadJob {
  const timed = { target: target.endpoint, warmupMs: WARMUP_MS, durationMs: PROFILE_MS, ...(target.pid ? { cpuPid: target.pid } : {}) };
  if (test === "download" || test === "upload") return { kind: test, connections: 4, ...timed };
  return { kind: "handshake", concurrency: 32, ...(test === "resumed" ? { resume: true } : {}), ...timed };
}

async function profileOne(spec: TargetSpec, test: ProfileTest, tctx: TargetContext, lctx: LoadContext, dir: string, usePerf: boolean): Promise<ProxyProfile> {
  const profDir = join(dir, `${spec.name}-cpuprof`);
  const isSidecar = spec.kind === "sidecar";
  if (isSidecar) await mkdir(profDir, { recursive: true });
  const ctx: TargetContext = isSidecar ? { ...tctx, cpuProfileDir: profDir, sidecarNodeFlags: [...(tctx.sidecarNodeFlags ?? []), ...(usePerf ? ["--perf-basic-prof"] : [])] } : tctx;
  const target = await startTarget(spec, ctx);
  const perfFile = join(dir, `${spec.name}.perf.data`);
  const perf = usePerf && target.pid ? perfRecord(target.pid, perfFile, lctx.loadCore) : undefined;
  let result;
  // The load window on the monotonic clock V8 stamps its samples with, so
  // start-up (module loading, the first SVID) stays out of the summary.
  const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
  const window = { fromUs: nowUs() + WARMUP_MS * 1000, toUs: 0 };
  try {
    result = await runLoad(jobFor(test, target), lctx);
    window.toUs = nowUs();
  } finally {
    if (perf) {
      // perf writes its data file on SIGINT, as after Ctrl-C.
      perf.process.kill("SIGINT");
      await Promise.race([perf.exited, new Promise((r) => setTimeout(r, 15_000))]);
      await perf.stop(1000);
    }
    await target.stop();
  }
  let v8: ProfileSummary | undefined;
  if (isSidecar) {
    const files = (await readdir(profDir)).filter((f) => f.endsWith(".cpuprofile"));
    const file = files[0];
    if (file) v8 = summarizeCpuProfile(JSON.parse(await readFile(join(profDir, file), "utf8")) as CpuProfile, 40, window);
  }
  let perfSummary: ProxyProfile["perf"];
  if (perf && existsSync(perfFile)) {
    const report = await perfReport(perfFile).catch(() => undefined);
    const landmarks = await perfLandmarks(perfFile).catch(() => []);
    if (report && report.symbols.length > 0) perfSummary = { ...report, landmarks };
  }
  return {
    target: spec.name,
    test,
    ops: test === "download" || test === "upload" ? result.bytes : result.ops,
    cpuPerOp: test === "download" || test === "upload" ? result.proxyCpu / (result.bytes / 1e9) : (result.proxyCpu / result.ops) * 1e6,
    ...(v8 ? { v8 } : {}),
    ...(perfSummary ? { perf: perfSummary } : {}),
  };
}

/** Profiles haproxy, the sidecar and (when asked) the plain Node proxy. */
export async function profileProxies(settings: BenchSettings, tctx: TargetContext, lctx: LoadContext, outDir: string, log: (l: string) => void): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const dir = join(outDir, `profile-${stamp}`);
  await mkdir(dir, { recursive: true });
  const usePerf = await perfUsable();
  if (!usePerf) log("perf is not usable here: V8 profile only");
  const specs: TargetSpec[] = [{ name: "haproxy", kind: "haproxy" }];
  if (settings.targets.includes("sidecar")) specs.push({ name: "sidecar", kind: "sidecar", node: process.execPath });
  if (settings.targets.includes("node-plain")) specs.push({ name: "node-plain", kind: "plain", peerCheck: "getPeerX509Certificate" });
  const profiles: ProxyProfile[] = [];
  for (const spec of specs) {
    try {
      log(`profiling ${spec.name} for ${PROFILE_MS / 1000} s of the ${settings.profileTest} test ...`);
      profiles.push(await profileOne(spec, settings.profileTest, tctx, lctx, dir, usePerf));
    } catch (err) {
      log(`${spec.name}: not profiled: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const text = profiles.map((p) => renderProfile(p)).join("\n\n");
  process.stdout.write(`\n${text}\n`);
  await writeFile(join(dir, "summary.txt"), text + "\n");
  await writeFile(join(dir, "summary.json"), JSON.stringify(profiles, null, 2));
  log(`profiles in ${dir}`);
}

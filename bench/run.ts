/**
 * `npm run bench`: mesh-sidecar side by side with haproxy 2.6 doing the same
 * mTLS termination on the same machine, in one run. Proxies run alone on core
 * 0; the load generator and the backend on core 1. Rounds are interleaved
 * (direct, then the proxies in rotating order, repeated); the table shows the
 * median (min–max) over rounds and the median per-round ratio to haproxy.
 * Results go to bench/results/ as JSON.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../lib/cli/flags.js";
import { doublePki } from "./pki/double-pki.js";
import type { BenchPki } from "./pki/pki.js";
import { caFigures, type CaFigures } from "./ca/figures.js";
import { meshCaPki } from "./pki/mesh-ca-pki.js";
import { HOP_FIGURES, HOP_NAMES, runHop, type HopFigures, type HopName } from "./mesh-hop.js";
import { ensureHaproxy, machineFacts, pickCores } from "./machine/machine.js";
import { obtainNode24, type Node24 } from "./machine/node24.js";
import type { LoadContext } from "./loadgen/run-load.js";
import { probeTarget, runActive, runIdle, type ProbeFacts } from "./phases.js";
import { spawnPinned, type Child } from "./machine/processes.js";
import { profileProxies } from "./profile/profile.js";
import { fmt, renderTable, renderTargets, summarize, type Round, type Summary } from "./report/report.js";
import { parseBenchArgs, PROXY_V2_TARGET, type BenchSettings } from "./settings.js";
import { startTarget, type RunningTarget, type TargetContext, type TargetSpec } from "./targets/targets.js";
import { describeTickets, opensslConfFor, resumes } from "./targets/tickets.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const log = (line: string): void => void process.stdout.write(`[bench] ${line}\n`);

async function startBackend(core: number | undefined): Promise<{ child: Child; port: number }> {
  const child = spawnPinned({ name: "backend", core, command: process.execPath, args: [join(repoRoot, "dist/bench/targets/backend.js")] });
  const port = await new Promise<number>((resolve, reject) => {
    let text = "";
    child.process.stdout?.on("data", (c: Buffer) => {
      text += c.toString("utf8");
      const m = /"port":(\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    void child.exited.then((code) => reject(new Error(`backend exited with ${code}: ${child.output()}`)));
  });
  return { child, port };
}

async function preparePki(settings: BenchSettings, dir: string, caCore: number | undefined): Promise<BenchPki> {
  const built = existsSync(join(repoRoot, "dist/ca/cli.js"));
  if (settings.ca === "mesh-ca" || (settings.ca === "auto" && built)) {
    try {
      return await meshCaPki(repoRoot, dir, log, caCore);
    } catch (err) {
      if (settings.ca === "mesh-ca") throw err;
      log(`mesh-ca could not be used (${err instanceof Error ? err.message.split("\n")[0] : String(err)}); using the CA double`);
    }
  } else if (settings.ca === "auto") {
    log("mesh-ca is not built (dist/ca/cli.js): the sidecar gets its SVID from the bench's CA double");
  }
  return doublePki(dir);
}

function specFor(name: string, node24: Node24): TargetSpec | undefined {
  switch (name) {
    case "direct":
      return { name, kind: "direct" };
    case "haproxy":
      return { name, kind: "haproxy" };
    case "sidecar":
      return { name, kind: "sidecar", node: process.execPath };
    case PROXY_V2_TARGET:
      return { name, kind: "sidecar", node: process.execPath, proxyProtocol: "v2" };
    case "sidecar-node24":
      return "path" in node24 ? { name, kind: "sidecar", node: node24.path } : undefined;
    case "node-plain":
      return { name, kind: "plain", peerCheck: "getPeerX509Certificate" };
    case "node-plain-legacy":
      return { name, kind: "plain", peerCheck: "getPeerCertificate" };
    default:
      return undefined;
  }
}

/** Runs `fn` against a freshly started target and stops it after. */
async function withTarget<T>(spec: TargetSpec, tctx: TargetContext, fn: (t: RunningTarget) => Promise<T>): Promise<T> {
  const target = await startTarget(spec, tctx);
  try {
    return await fn(target);
  } finally {
    await target.stop();
  }
}

/** One round of the mesh-hop test, the pairs in rotating order. */
async function runHopRound(r: number, settings: BenchSettings, tctx: TargetContext, lctx: LoadContext): Promise<Record<string, HopFigures>> {
  const round: Record<string, HopFigures> = {};
  for (let i = 0; i < HOP_NAMES.length; i++) {
    const name = HOP_NAMES[(i + r) % HOP_NAMES.length] as HopName;
    const t0 = Date.now();
    try {
      round[name] = await runHop(name, settings.phases, tctx, lctx);
    } catch (err) {
      log(`round ${r + 1} ${name}: failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    log(`round ${r + 1}/${settings.rounds} ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return round;
}

/** The mesh-hop table, and what resumption saves the sidecar pair. */
function summarizeHops(hopRounds: readonly Record<string, HopFigures>[]): { summary: Summary; text: string; markdown: string } {
  const summary = summarize(hopRounds, HOP_NAMES, "haproxy-pair", HOP_FIGURES);
  const againstFull = summarize(hopRounds, ["sidecar-pair"], "sidecar-pair-full", HOP_FIGURES);
  const saved = 1 - (againstFull["hopCpuUs"]?.["sidecar-pair"]?.ratio.median ?? Number.NaN);
  const note = Number.isFinite(saved)
    ? `Resumption between sidecars: the pair spends ${(saved * 100).toFixed(0)}% less CPU per new connection than with full handshakes (median of per-round ratios).`
    : "Resumption between sidecars: not measured.";
  const title = "Between sidecars (mesh hop: plaintext → outbound proxy → mTLS → inbound proxy → backend, both proxies on the proxy core)";
  return {
    summary,
    text: `${title}\n\n${renderTable(summary, HOP_NAMES, false, "haproxy-pair", HOP_FIGURES)}\n\n${note}`,
    markdown: `${renderTable(summary, HOP_NAMES, true, "haproxy-pair", HOP_FIGURES)}\n\n${note}`,
  };
}

/** What the PROXY v2 header adds per new connection: sidecar-proxy-v2 against sidecar in the same run, when both ran. */
function proxyHeaderCost(summary: Summary, proxies: readonly string[]): string | undefined {
  if (!proxies.includes("sidecar") || !proxies.includes(PROXY_V2_TARGET)) return undefined;
  const figure = (key: string, target: string): number => summary[key]?.[target]?.value.median ?? Number.NaN;
  const line = (label: string, key: string): string => {
    const without = figure(key, "sidecar");
    const withHeader = figure(key, PROXY_V2_TARGET);
    const delta = withHeader - without;
    return `  ${label}: ${fmt(without)} µs without, ${fmt(withHeader)} µs with proxyProtocol: v2 (${delta >= 0 ? "+" : ""}${fmt(delta)} µs, ${((delta / without) * 100).toFixed(1)}%)`;
  };
  return ["PROXY protocol v2 header (sidecar vs sidecar-proxy-v2, same run, medians over rounds):", line("proxy CPU per new conn", "handshakeCpuUs"), line("proxy CPU per resumed conn", "resumedCpuUs")].join("\n");
}

/** Starts each proxy once: negotiated parameters, tickets sent, denied client refused. */
async function probeAll(specs: TargetSpec[], tctx: TargetContext, lctx: LoadContext): Promise<Map<string, ProbeFacts>> {
  const facts = new Map<string, ProbeFacts>();
  for (const spec of specs) {
    try {
      const target = await startTarget(spec, tctx);
      try {
        const f = await probeTarget(target, lctx);
        facts.set(spec.name, f);
        const refused = f.deniedRefused === undefined ? "" : f.deniedRefused ? ", denied ID refused" : ", DENIED ID GOT THROUGH";
        log(`${spec.name}: ${f.protocol} ${f.cipher} ${f.group}, ${f.tickets} session ticket(s) per handshake${refused}`);
        if (f.deniedRefused === false) throw new Error(`${spec.name} let a client outside the policy through; its figures would not compare`);
      } finally {
        await target.stop();
      }
    } catch (err) {
      log(`${spec.name}: left out: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return facts;
}

async function main(): Promise<void> {
  const settings = parseBenchArgs(process.argv.slice(2));
  if (!settings) return;
  const started = new Date();
  const haproxy = await ensureHaproxy(log);
  const machine = await machineFacts(haproxy);
  log(`node ${process.versions.node}, openssl ${process.versions.openssl}; haproxy ${machine.haproxy}`);
  log(`${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Linux ${machine.kernel}`);
  const cores = await pickCores(log);
  const node24: Node24 = settings.node24 && settings.targets.includes("sidecar-node24") ? await obtainNode24(repoRoot, log) : { reason: "not asked for" };
  log("path" in node24 ? `node 24: ${node24.version} (${node24.path})` : `node 24: not run: ${node24.reason}`);

  const dir = await mkdtemp(join(tmpdir(), "mtls-mesh-bench-"));
  // mesh-ca runs on the proxy core: it is what the end-to-end CA figure measures.
  const pki = await preparePki(settings, dir, cores.proxy);
  const backend = await startBackend(cores.load);
  const opensslConfFile = join(dir, "openssl-tickets.cnf");
  await writeFile(opensslConfFile, opensslConfFor(settings.tickets) ?? "");
  const tctx: TargetContext = {
    repoRoot,
    pki,
    backendPort: backend.port,
    proxyCore: cores.proxy,
    haproxy: haproxy ?? "haproxy",
    tickets: settings.tickets,
    opensslConfFile,
    sidecarNodeFlags: settings.sidecarFlags,
  };
  const lctx: LoadContext = { repoRoot, loadCore: cores.load };
  try {
    if (settings.profile) {
      await profileProxies(settings, tctx, lctx, join(repoRoot, "bench/results"), log);
      return;
    }
    log(`TLS session tickets: ${settings.tickets}; ${Object.entries(describeTickets(settings.tickets)).map(([k, v]) => `${k}: ${v}`).join("; ")}`);
    const specs = settings.targets.filter((t) => t !== "direct").map((t) => specFor(t, node24));
    const facts = await probeAll(specs.filter((s): s is TargetSpec => s !== undefined), tctx, lctx);
    const ticketCounts = new Set([...facts.values()].map((f) => f.tickets));
    const ciphers = new Set([...facts.values()].map((f) => `${f.protocol} ${f.cipher} ${f.group}`));
    if (ciphers.size > 1) log(`WARNING: the proxies negotiate different parameters (${[...ciphers].join("; ")}): not like with like`);
    if (ticketCounts.size > 1) log(`WARNING: the proxies send different numbers of session tickets (${[...ticketCounts].join(", ")}): not like with like`);
    const proxies = settings.targets.filter((t) => t !== "direct" && facts.has(t));
    const names = ["direct", ...proxies];

    const rounds: Round[] = [];
    const hopRounds: Record<string, HopFigures>[] = [];
    for (let r = 0; r < settings.rounds; r++) {
      const order = ["direct", ...proxies.map((_, i) => proxies[(i + r) % proxies.length] as string)];
      const round: Round = {};
      for (const name of order) {
        const spec = specFor(name, node24);
        if (!spec) continue;
        const t0 = Date.now();
        try {
          const active = await withTarget(spec, tctx, (t) => runActive(t, settings.phases, lctx, resumes(settings.tickets)));
          const idle = await withTarget(spec, tctx, (t) => runIdle(t, settings.phases, lctx));
          round[name] = { ...active, ...idle, errors: active.errors + idle.errors, tickets: facts.get(name)?.tickets ?? 0 };
        } catch (err) {
          log(`round ${r + 1} ${name}: failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        log(`round ${r + 1}/${settings.rounds} ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      rounds.push(round);
      if (settings.hop) hopRounds.push(await runHopRound(r, settings, tctx, lctx));
    }
    const ca: CaFigures | undefined = settings.caFigures ? await caFigures(repoRoot, pki, lctx, cores.proxy, settings.quick, log, "path" in node24 ? node24.path : undefined) : undefined;

    const summary = summarize(rounds, names);
    const idle = settings.phases.idleConnections;
    process.stdout.write(`\nResults (${settings.rounds} round(s); median (min–max); ratio = median of per-round ratios; ${idle} idle conns)\n\n`);
    process.stdout.write(renderTable(summary, names) + "\n\n");
    for (const s of proxies.filter((p) => p !== "haproxy")) {
      process.stdout.write(renderTargets(summary, s) + "\n\n");
    }
    const proxyV2 = proxyHeaderCost(summary, proxies);
    if (proxyV2) process.stdout.write(proxyV2 + "\n\n");
    const hop = settings.hop ? summarizeHops(hopRounds) : undefined;
    if (hop) process.stdout.write(hop.text + "\n\n");
    if (ca) process.stdout.write(ca.text + "\n\n");
    const report = {
      date: started.toISOString(),
      command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim(),
      machine,
      node24,
      settings,
      caKind: pki.ca.kind,
      tickets: { mode: settings.tickets, settings: describeTickets(settings.tickets) },
      probes: Object.fromEntries(facts),
      rounds,
      summary,
      ca: ca?.json,
      hopRounds,
      hopSummary: hop?.summary,
      markdown: {
        table: renderTable(summary, names, true),
        targets: proxies.filter((p) => p !== "haproxy").map((p) => renderTargets(summary, p, true)),
        ...(hop ? { hop: hop.markdown } : {}),
      },
    };
    const out = join(repoRoot, "bench/results");
    await mkdir(out, { recursive: true });
    const file = join(out, `bench-${started.toISOString().replace(/[:.]/g, "-")}.json`);
    const text = JSON.stringify(report, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2);
    await writeFile(file, text);
    await writeFile(join(out, "latest.json"), text);
    log(`wrote ${file} in ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s`);
  } finally {
    await backend.child.stop();
    await pki.ca.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err instanceof UsageError ? err.message : err.stack) : String(err)}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});

/**
 * A root rotation of a running mesh, for the end-to-end proofs: mesh-ca
 * (one process, or two on the same directory) with ~20 s SVIDs and a 2 s
 * bundle refresh hint, an "orders" and a "frontend" sidecar (each with an
 * inbound listener, so a probe can see which root its SVID chains to), and
 * `mesh-ca rotate prepare → activate → retire` run with the CLI while
 * traffic flows. The waits come from the config (2 × hint, maxTtl +
 * backdate); a step refused as too early is retried, never forced. Every
 * wait and loop is bounded in count and time. The caller asserts on the
 * returned report; the figures are printed.
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { stringify } from "yaml";
import { freePorts, ProcessGroup, sleep, waitFor } from "../../helpers/processes.js";
import { startBackend, type Backend } from "./backends.js";
import { mtlsGet, plainGet, startTraffic, type TrafficReport } from "./clients.js";
import { HeldConnection } from "./held-connection.js";
import { CaDir, CaServer, policyYaml, requireBuilt, Sidecar, workloadId, type SvidFiles } from "./mesh.js";
import { metricSum } from "./metrics.js";

export const FRONTEND_ID = workloadId("frontend");
export const ORDERS_ID = workloadId("orders");
/** A hand-held client identity, allowed on both inbound listeners, to look at the certificates they serve. */
export const PROBE_ID = workloadId("probe");

/** The CA timings of the run: SVIDs of 20 s, a 2 s refresh hint (activate after 4 s, retire 21 s after activate). */
export const TIMINGS = { svid: { defaultTtl: "20s", maxTtl: "20s", backdate: "1s" }, bundle: { refreshHint: "2s" } } as const;
/** Upper bound of any one wait for convergence; a step's own wait is bounded separately. */
const CONVERGE_MS = 15_000;
const STEP_ATTEMPTS = 150;
const STEP_RETRY_MS = 250;

/** A running mesh for a rotation. */
export interface RotationMesh {
  readonly work: string;
  readonly group: ProcessGroup;
  readonly ca: CaDir;
  readonly cas: readonly CaServer[];
  readonly orders: Sidecar;
  readonly frontend: Sidecar;
  readonly backend: Backend;
  readonly ordersInbound: string;
  readonly frontendInbound: string;
  readonly frontendToOrders: string;
  /** The timings file `mesh-ca rotate --config` reads. */
  readonly rotateConfig: string;
  close(): Promise<void>;
}

/** Starts mesh-ca (`replicas` processes on one directory), the backend and both sidecars. */
export async function startRotationMesh(replicas: 1 | 2): Promise<RotationMesh> {
  requireBuilt();
  const work = mkdtempSync(join(tmpdir(), "mesh-rotation-"));
  const group = new ProcessGroup();
  const backend = await startBackend("orders");
  try {
    const ports = await freePorts(2 * replicas + 5);
    const next = (): number => ports.shift() as number;
    const ca = await CaDir.init(join(work, "ca"));
    const rotateConfig = join(work, "rotate.yaml");
    writeFileSync(rotateConfig, stringify({ trustDomain: "example.org", ...TIMINGS }));
    const cas: CaServer[] = [];
    for (let i = 0; i < replicas; i++) {
      // Each replica's config in a directory of its own; both name the same signing files.
      const configDir = join(work, `ca-config-${i}`);
      mkdirSync(configDir);
      cas.push(new CaServer(group, { ca, configDir, listen: `127.0.0.1:${next()}`, admin: `127.0.0.1:${next()}`, svid: TIMINGS.svid, bundle: TIMINGS.bundle }));
    }
    await Promise.all(cas.map((c, i) => c.start(`mesh-ca-${i}`)));
    const [ordersIn, ordersAdmin, frontIn, frontOut, frontAdmin] = [next(), next(), next(), next(), next()];
    const common = { bundleFile: ca.bundleFile, bundleRefresh: "1m" };
    const orders = new Sidecar(group, {
      name: "orders-sidecar",
      dir: join(work, "orders"),
      caUrl: (cas[0] as CaServer).apiUrl,
      joinToken: await ca.joinToken(ORDERS_ID),
      expectedId: ORDERS_ID,
      inbound: [{ name: "orders", listen: `127.0.0.1:${ordersIn}`, forward: backend.hostPort }],
      policy: policyYaml({ orders: { allow: [FRONTEND_ID, PROBE_ID] } }),
      admin: `127.0.0.1:${ordersAdmin}`,
      ...common,
    });
    const frontend = new Sidecar(group, {
      name: "frontend-sidecar",
      dir: join(work, "frontend"),
      // With two replicas, each sidecar talks to a different one: both must follow the directory.
      caUrl: (cas[cas.length - 1] as CaServer).apiUrl,
      joinToken: await ca.joinToken(FRONTEND_ID),
      expectedId: FRONTEND_ID,
      inbound: [{ name: "frontend", listen: `127.0.0.1:${frontIn}`, forward: backend.hostPort }],
      outbound: [{ name: "orders", listen: `127.0.0.1:${frontOut}`, upstream: `127.0.0.1:${ordersIn}`, expectedPeer: ORDERS_ID }],
      policy: policyYaml({ frontend: { allow: [PROBE_ID] } }),
      admin: `127.0.0.1:${frontAdmin}`,
      ...common,
    });
    await Promise.all([orders.start(), frontend.start()]);
    return {
      work,
      group,
      ca,
      cas,
      orders,
      frontend,
      backend,
      ordersInbound: `127.0.0.1:${ordersIn}`,
      frontendInbound: `127.0.0.1:${frontIn}`,
      frontendToOrders: `127.0.0.1:${frontOut}`,
      rotateConfig,
      close: async () => {
        await group.stopAll();
        await backend.close();
        if (!process.env.E2E_KEEP) rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    const dump = group.dump();
    await group.stopAll();
    await backend.close();
    rmSync(work, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${dump}`);
  }
}

/** Milliseconds each phase took. */
export interface StepFigures {
  /** The `rotate` command itself (the last, successful run). */
  commandMs: number;
  /** From the first attempt to the step succeeding: what was left of the safety wait once the previous step had converged. */
  waitedMs: number;
  /** From the previous step's command to this one's success: the whole safety wait (0 for prepare). */
  sincePreviousMs: number;
  /** Attempts refused as too early before it ran. */
  refusedTooEarly: number;
  /** From the step to every CA serving the new set. */
  casConvergedMs: number;
  /** From the step to every sidecar holding what the step gave (prepare/retire: the bundle; activate: an SVID of the new root). */
  sidecarsConvergedMs: number;
}

/** What happened in a run. */
export interface RotationReport {
  steps: Record<"prepare" | "activate" | "retire", StepFigures>;
  newConnections: TrafficReport;
  longLived: TrafficReport & { stillOpen: boolean };
  renewals: Record<"orders" | "frontend", { ok: number; error: number; invalid: number }>;
  /** Handshakes refused on any listener during the rotation (before the deliberate probe below). */
  handshakeFailures: number;
  handshakesOk: number;
  caReloads: { ok: number[]; error: number[] };
  caRequestErrors: number;
  sequences: { cas: number[]; sidecars: number[] };
  /** After retire: does each sidecar serve an SVID of the new root? */
  servesNewRoot: { orders: boolean; frontend: boolean };
  /** After retire: the answer to a client with an SVID of the old root, and the handshake counter it moved. */
  oldRootClient: { error: string; untrustedCounted: number };
  totalMs: number;
}

/** Runs prepare → activate → retire under traffic on `mesh`. */
export async function rotateUnderTraffic(mesh: RotationMesh): Promise<RotationReport> {
  const started = Date.now();
  const oldRoot = new X509Certificate(readFileSync(join(mesh.ca.dir, "ca.crt")));
  const probeOld = await mesh.ca.issue(PROBE_ID, join(mesh.work, "probe-old"), "1h");
  const held = await HeldConnection.open(mesh.frontendToOrders);
  const fresh = startTraffic(() => plainGet(mesh.frontendToOrders), { workers: 2, pauseMs: 20 });
  const longLived = startTraffic(async () => ({ status: await held.get("/held"), body: "" }), { workers: 1, pauseMs: 50 });
  try {
    const prepare = await step(mesh, "prepare", undefined, () => casAtSequence(mesh, 2), () => sidecarsAtSequence(mesh, 2));
    const newRoot = new X509Certificate(readFileSync(join(mesh.ca.dir, "next.crt")));
    const activate = await step(mesh, "activate", prepare, async () => {
      await waitFor("every CA signing with the new root", async () => (await Promise.all(mesh.cas.map((c) => stateOf(c, "activated")))).every(Boolean), { timeoutMs: CONVERGE_MS, intervalMs: 100 });
    }, async () => {
      // The sidecars renew on their own (about every 10 s): wait until both serve an SVID of the new root.
      await waitFor(
        "both sidecars serving an SVID of the new root",
        async () => (await servedBy(mesh.ordersInbound, probeOld, newRoot)) && (await servedBy(mesh.frontendInbound, probeOld, newRoot)),
        { timeoutMs: 25_000, intervalMs: 250 },
      );
    });
    const retire = await step(mesh, "retire", activate, () => casAtSequence(mesh, 3), () => sidecarsAtSequence(mesh, 3));
    const newConnections = await fresh.stop();
    const longLivedReport = await longLived.stop();
    const stillOpen = held.isOpen && (await held.get("/after")) === 200;
    const [ordersText, frontendText] = [await mesh.orders.metrics(), await mesh.frontend.metrics()];
    const handshakeFailures = ["untrusted", "expired", "invalid_svid", "wrong_peer", "no_peer_certificate", "timeout", "protocol_error"]
      .map((result) => metricSum(ordersText, "mesh_sidecar_tls_handshakes_total", { result }) + metricSum(frontendText, "mesh_sidecar_tls_handshakes_total", { result }))
      .reduce((a, b) => a + b, 0);
    const handshakesOk = metricSum(ordersText, "mesh_sidecar_tls_handshakes_total", { result: "ok" }) + metricSum(frontendText, "mesh_sidecar_tls_handshakes_total", { result: "ok" });
    const renewals = {
      orders: renewalCounts(ordersText),
      frontend: renewalCounts(frontendText),
    };
    // After retire: a fresh probe (signed by the new root) sees what each sidecar serves; the old probe is refused.
    const probeNew = await mesh.ca.issue(PROBE_ID, join(mesh.work, "probe-new"), "1h");
    const servesNewRoot = { orders: await servedBy(mesh.ordersInbound, probeNew, newRoot), frontend: await servedBy(mesh.frontendInbound, probeNew, newRoot) };
    const untrustedBefore = metricSum(ordersText, "mesh_sidecar_tls_handshakes_total", { listener: "orders", result: "untrusted" });
    const error = await mtlsGet(mesh.ordersInbound, probeOld, { caFile: mesh.ca.bundleFile }).then(
      (a) => `answered HTTP ${a.status}`,
      (e: Error) => e.message,
    );
    const untrustedCounted = await waitFor(
      "the refused handshake to be counted",
      async () => {
        const n = metricSum(await mesh.orders.metrics(), "mesh_sidecar_tls_handshakes_total", { listener: "orders", result: "untrusted" }) - untrustedBefore;
        return n > 0 ? n : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 100 },
    ).catch(() => 0);
    const caTexts = await Promise.all(mesh.cas.map((c) => c.metrics()));
    const report: RotationReport = {
      steps: { prepare, activate, retire },
      newConnections,
      longLived: { ...longLivedReport, stillOpen },
      renewals,
      handshakeFailures,
      handshakesOk,
      caReloads: { ok: caTexts.map((t) => metricSum(t, "mesh_ca_reloads_total", { result: "ok" })), error: caTexts.map((t) => metricSum(t, "mesh_ca_reloads_total", { result: "error" })) },
      caRequestErrors: caTexts.map((t) => metricSum(t, "mesh_ca_svid_requests_total") - metricSum(t, "mesh_ca_svid_requests_total", { result: "issued" })).reduce((a, b) => a + b, 0),
      sequences: {
        cas: caTexts.map((t) => metricSum(t, "mesh_ca_trust_bundle_sequence")),
        sidecars: [metricSum(await mesh.orders.metrics(), "mesh_sidecar_bundle_sequence"), metricSum(await mesh.frontend.metrics(), "mesh_sidecar_bundle_sequence")],
      },
      servesNewRoot,
      oldRootClient: { error, untrustedCounted },
      totalMs: Date.now() - started,
    };
    if (oldRoot.fingerprint256 === newRoot.fingerprint256) throw new Error("the rotation did not change the root");
    return report;
  } finally {
    await fresh.stop();
    await longLived.stop();
    held.close();
  }
}

/** Runs one rotate step, retrying while it is refused as too early (bounded), then waits for the CAs and the sidecars to take it. */
async function step(
  mesh: RotationMesh,
  name: "prepare" | "activate" | "retire",
  previous: StepFigures | undefined,
  cas: () => Promise<void>,
  sidecars: () => Promise<void>,
): Promise<StepFigures & { doneAt: number }> {
  const first = Date.now();
  let refusedTooEarly = 0;
  for (let attempt = 1; ; attempt++) {
    const t = Date.now();
    const r = await mesh.ca.rotate(name, ["--config", mesh.rotateConfig]);
    const commandMs = Date.now() - t;
    if (r.code === 0) {
      const done = Date.now();
      await cas();
      const casConvergedMs = Date.now() - done;
      await sidecars();
      return {
        commandMs,
        waitedMs: t - first,
        sincePreviousMs: previous ? done - (previous as StepFigures & { doneAt: number }).doneAt : 0,
        refusedTooEarly,
        casConvergedMs,
        sidecarsConvergedMs: Date.now() - done,
        doneAt: done,
      };
    }
    if (!r.stderr.includes("[CA_ROTATION_TOO_EARLY]") || attempt >= STEP_ATTEMPTS) {
      throw new Error(`mesh-ca rotate ${name} failed (exit ${String(r.code)}) after ${attempt} attempts:\n${r.stderr}${r.stdout}`);
    }
    refusedTooEarly++;
    await sleep(STEP_RETRY_MS);
  }
}

/** Waits until every CA publishes bundle `sequence`. */
async function casAtSequence(mesh: RotationMesh, sequence: number): Promise<void> {
  await waitFor(`every CA at bundle sequence ${sequence}`, async () => (await Promise.all(mesh.cas.map(async (c) => metricSum(await c.metrics(), "mesh_ca_trust_bundle_sequence")))).every((s) => s === sequence), { timeoutMs: CONVERGE_MS, intervalMs: 100 });
}

/** Waits until both sidecars have fetched bundle `sequence`. */
async function sidecarsAtSequence(mesh: RotationMesh, sequence: number): Promise<void> {
  await waitFor(
    `both sidecars at bundle sequence ${sequence}`,
    async () => (await Promise.all([mesh.orders, mesh.frontend].map(async (s) => metricSum(await s.metrics(), "mesh_sidecar_bundle_sequence")))).every((s) => s === sequence),
    { timeoutMs: CONVERGE_MS, intervalMs: 100 },
  );
}

async function stateOf(ca: CaServer, state: string): Promise<boolean> {
  return metricSum(await ca.metrics(), "mesh_ca_rotation_state", { state }) === 1;
}

function renewalCounts(text: string): { ok: number; error: number; invalid: number } {
  return {
    ok: metricSum(text, "mesh_sidecar_svid_renewals_total", { result: "ok" }),
    error: metricSum(text, "mesh_sidecar_svid_renewals_total", { result: "error" }),
    invalid: metricSum(text, "mesh_sidecar_svid_renewals_total", { result: "invalid" }),
  };
}

/**
 * Whether the listener at `hostPort` presents a certificate issued by
 * `root`. The probe completes one request before closing, so the sidecar
 * sees a whole, accepted connection (a client that hangs up mid-handshake
 * would be counted as a failed handshake).
 */
function servedBy(hostPort: string, probe: SvidFiles, root: X509Certificate): Promise<boolean> {
  const [host, port] = hostPort.split(":") as [string, string];
  return new Promise((resolve) => {
    let issuedByRoot = false;
    const socket = connect({ host, port: Number(port), cert: readFileSync(probe.certFile), key: readFileSync(probe.keyFile), rejectUnauthorized: false }, () => {
      const peer = socket.getPeerX509Certificate();
      issuedByRoot = peer !== undefined && peer.checkIssued(root) && peer.verify(root.publicKey);
      socket.end("GET /probe HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n");
    });
    socket.on("data", () => undefined);
    socket.on("close", () => resolve(issuedByRoot));
    socket.setTimeout(3_000, () => socket.destroy());
    socket.on("error", () => resolve(false));
  });
}

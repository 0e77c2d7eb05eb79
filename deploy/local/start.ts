/**
 * `npm start`: the whole mesh on one machine. mesh-ca (made by `mesh-ca
 * init` the first time, reused after), the sample services `frontend` and
 * `orders`, and a mesh-sidecar for each, configured by the YAML files in
 * deploy/local/. Waits until everything is ready, makes an allowed and a
 * denied call through the mesh, prints how to repeat them and where the
 * metrics are, and stops every process it started on Ctrl-C or SIGTERM.
 * docs/local-mesh.md is the user's guide.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { formatHelp, parseFlags, UsageError } from "../../lib/cli/flags.js";
import { createLogger, type Logger } from "../../lib/log.js";
import { LocalCa, StateLayout } from "./ca-state.js";
import { CURL_NOTE, curlCommand, mtlsGet, opensslCommand, plainGet } from "./demo-calls.js";
import { createLogRelay, relayStream, type LogFormat, type LogRelay } from "./log-relay.js";
import { BASE_PORT_ENV, CLIENTS, DEFAULT_BASE_PORT, MeshPlan, serviceId, TRUST_DOMAIN } from "./plan.js";
import { busyPorts, portInUseMessage, waitReady } from "./readiness.js";
import { allAsExpected, displayPath, formatSummary, summaryRecord, type Summary } from "./summary.js";
import { Supervisor, type Child } from "./supervisor.js";

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/deploy/local
const REPO = resolve(HERE, "..", "..", "..");
const CA_CLI = join(REPO, "dist", "ca", "cli.js");
const SIDECAR_CLI = join(REPO, "dist", "sidecar", "cli.js");
/** One TLS session ticket per full handshake, as in the sidecar image (the file says why). */
const SIDECAR_OPENSSL_CONF = join(REPO, "sidecar", "openssl-sidecar.cnf");
const SAMPLE_APP = join(HERE, "sample-app.js");

const FLAGS = {
  "base-port": { type: "string", description: `first of the mesh's ports (default $${BASE_PORT_ENV} or ${DEFAULT_BASE_PORT})`, placeholder: "PORT" },
  "state-dir": { type: "string", description: "state directory (default $MESH_LOCAL_DIR or .mesh-local/)", placeholder: "DIR" },
  "config-dir": { type: "string", description: "directory of ca.yaml, *.sidecar.yaml, *.policy.yaml (default $MESH_LOCAL_CONFIG_DIR or deploy/local/)", placeholder: "DIR" },
  "log-format": { type: "string", description: "pretty | json (default: pretty on a terminal, json when piped)", placeholder: "FORMAT" },
} as const;

/** Client certificates for calls by hand live this long; `npm start` issues fresh ones every run. */
const CLIENT_TTL = "24h";
/** A join token is enough for a sidecar to bootstrap again if its SVID ever lapses (a laptop asleep past its expiry). */
const JOIN_TOKEN_TTL = "24h";
const JOIN_TOKEN_USES = 10;
const READY_TIMEOUT_MS = 30_000;
/** The sidecars drain for up to 5 s (drainGrace in their config); the CA finishes within 5 s (shutdownGrace). */
const STOP_GRACE_MS = 8_000;

interface Options {
  plan: MeshPlan;
  layout: StateLayout;
  configDir: string;
  format: LogFormat;
}

function readOptions(argv: string[]): Options | undefined {
  const flags = parseFlags("npm start --", argv, FLAGS);
  if (flags.help) {
    process.stdout.write(formatHelp("npm start --", "Runs the local mesh: mesh-ca, frontend and orders with their sidecars (docs/local-mesh.md).", FLAGS));
    return undefined;
  }
  const baseText = flags["base-port"] ?? process.env[BASE_PORT_ENV] ?? String(DEFAULT_BASE_PORT);
  const base = Number(baseText);
  let plan: MeshPlan;
  try {
    plan = new MeshPlan(base);
  } catch (err) {
    throw new UsageError(`npm start: ${(err as Error).message}`);
  }
  const format = flags["log-format"] ?? process.env.MESH_LOCAL_LOG_FORMAT ?? (process.stdout.isTTY ? "pretty" : "json");
  if (format !== "pretty" && format !== "json") throw new UsageError(`npm start: --log-format must be pretty or json, got "${format}"`);
  return {
    plan,
    layout: new StateLayout(resolve(flags["state-dir"] ?? process.env.MESH_LOCAL_DIR ?? join(REPO, ".mesh-local"))),
    configDir: resolve(flags["config-dir"] ?? process.env.MESH_LOCAL_CONFIG_DIR ?? join(REPO, "deploy", "local")),
    format,
  };
}

async function main(argv: string[]): Promise<number> {
  let options: Options | undefined;
  try {
    options = readOptions(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  if (!options) return 0;
  const { plan, layout, format } = options;
  const relay = createLogRelay(format);
  const log = createLogger({ name: "npm-start", format: "json", destination: relayStream(relay, "npm-start") });

  const busy = await busyPorts(plan);
  if (busy.length > 0) {
    for (const role of busy) log.error({ port: plan.port(role) }, portInUseMessage(plan, role));
    return 1;
  }
  const owner = claimStateDir(layout);
  if (owner !== undefined) {
    log.error(`another npm start (pid ${owner}) is using ${layout.root}; stop it first (Ctrl-C in its terminal, or kill ${owner}), or give this one its own MESH_LOCAL_DIR`);
    return 1;
  }
  try {
    return await runMesh(options, log, relay);
  } finally {
    rmSync(layout.pidFile, { force: true });
  }
}

/** Runs the mesh until a signal (exit code 0) or a failure (1). */
async function runMesh(options: Options, log: Logger, relay: LogRelay): Promise<number> {
  const { plan, layout, format } = options;
  const env = { ...process.env, ...plan.env(layout.root) };
  const ca = new LocalCa(CA_CLI, layout, env);
  try {
    log.info(ca.ensureInitialized() ? `made a new CA for spiffe://${TRUST_DOMAIN} in ${layout.caDir}` : `reusing the CA in ${layout.caDir}`);
  } catch (err) {
    log.error((err as Error).message);
    return 1;
  }

  let stopping: Promise<number> | undefined;
  let stopped!: (code: number) => void;
  const done = new Promise<number>((res) => (stopped = res));
  const requestStop = (why: string, code: number): void => {
    stopping ??= (async () => {
      log.info(`${why}: stopping every process`);
      await supervisor.stopAll();
      log.info("every process has stopped");
      return code;
    })();
    void stopping.then(stopped);
  };
  const supervisor = new Supervisor(relay, (child) => requestStop(`${child.name} exited unexpectedly`, 1));
  let firstSignalAt = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    // npm passes the terminal's Ctrl-C on as a second copy a moment later; only a deliberate second one forces.
    if (stopping && Date.now() - firstSignalAt > 1_000) {
      log.warn(`${sig} again: killing every process now`);
      supervisor.killAllNow();
      process.exit(130);
    }
    if (!stopping) firstSignalAt = Date.now();
    requestStop(sig, 0);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  watchParent(() => requestStop("the parent process (npm) has gone", 0));

  try {
    await bringUp({ ...options, ca, supervisor, env, log });
    if (!stopping) {
      const summary = await demonstrate(options);
      if (format === "pretty") process.stdout.write(formatSummary(summary));
      else log.info(summaryRecord(summary), "the local mesh is ready");
      if (!allAsExpected(summary)) log.warn("a demo call did not end as expected: see the lines marked UNEXPECTED and the logs above");
    }
  } catch (err) {
    if (!stopping) log.error((err as Error).message);
    requestStop("start-up failed", 1);
  }
  return await done;
}

interface BringUp extends Options {
  ca: LocalCa;
  supervisor: Supervisor;
  env: NodeJS.ProcessEnv;
  log: Logger;
}

/** Prepares identities and tokens, starts every process, and waits until each is ready. */
async function bringUp({ plan, layout, configDir, ca, supervisor, env, log }: BringUp): Promise<void> {
  ca.issueClient(CLIENTS.allowed.name, CLIENTS.allowed.spiffeId, CLIENT_TTL);
  ca.issueClient(CLIENTS.denied.name, CLIENTS.denied.spiffeId, CLIENT_TTL);
  const tokens = {
    frontend: ca.createJoinToken(serviceId("frontend"), JOIN_TOKEN_TTL, JOIN_TOKEN_USES),
    orders: ca.createJoinToken(serviceId("orders"), JOIN_TOKEN_TTL, JOIN_TOKEN_USES),
  };
  const start = (name: string, args: string[], extraEnv: Record<string, string> = {}): Child =>
    supervisor.start({ name, args, env: { ...env, ...extraEnv }, stopGraceMs: STOP_GRACE_MS });

  const caProc = start("mesh-ca", [CA_CLI, "serve", "--config", join(configDir, "ca.yaml")]);
  await waitReady(`http://${plan.hostPort("caAdmin")}/readyz`, caProc, READY_TIMEOUT_MS, plan);
  // orders.sidecar.yaml gives the orders listener proxyProtocol: v2, so the app reads who called from the header.
  const orders = start("orders", [SAMPLE_APP, "--name", "orders", "--listen", plan.hostPort("ordersApp"), "--proxy-protocol", "v2"]);
  const frontend = start("frontend", [SAMPLE_APP, "--name", "frontend", "--listen", plan.hostPort("frontendApp"), "--call", `http://${plan.hostPort("frontendToOrders")}`]);
  const ordersSidecar = start("orders-sidecar", [SIDECAR_CLI, "--config", join(configDir, "orders.sidecar.yaml")], { MESH_JOIN_TOKEN: tokens.orders, OPENSSL_CONF: SIDECAR_OPENSSL_CONF });
  const frontendSidecar = start("frontend-sidecar", [SIDECAR_CLI, "--config", join(configDir, "frontend.sidecar.yaml")], { MESH_JOIN_TOKEN: tokens.frontend, OPENSSL_CONF: SIDECAR_OPENSSL_CONF });
  await Promise.all([
    waitReady(`http://${plan.hostPort("ordersAdmin")}/readyz`, ordersSidecar, READY_TIMEOUT_MS, plan),
    waitReady(`http://${plan.hostPort("frontendAdmin")}/readyz`, frontendSidecar, READY_TIMEOUT_MS, plan),
    waitReady(`http://${plan.hostPort("ordersApp")}/`, orders, READY_TIMEOUT_MS, plan, { listening: true }),
    waitReady(`http://${plan.hostPort("frontendApp")}/`, frontend, READY_TIMEOUT_MS, plan, { listening: true }),
  ]);
  writeFileSync(layout.meshJson, `${JSON.stringify(plan.meshJson(), null, 2)}\n`);
  log.info({ meshJson: layout.meshJson }, "every process is ready");
}

/** Makes the allowed and the denied call and gathers what the summary prints. */
async function demonstrate({ plan, layout, configDir }: Options): Promise<Summary> {
  const allowedFiles = layout.client(CLIENTS.allowed.name);
  const deniedFiles = layout.client(CLIENTS.denied.name);
  const shown = (f: typeof allowedFiles) => ({ certFile: displayPath(f.certFile), keyFile: displayPath(f.keyFile), bundleFile: displayPath(f.bundleFile) });
  const orders = plan.address("ordersInbound");
  const [allowed, denied, appPath] = [
    await mtlsGet(orders.host, orders.port, allowedFiles, serviceId("orders")),
    await mtlsGet(orders.host, orders.port, deniedFiles, serviceId("orders")),
    await plainGet(plan.host, plan.port("frontendApp")),
  ];
  const metrics = {
    "mesh-ca": `http://${plan.hostPort("caAdmin")}/metrics`,
    "frontend sidecar": `http://${plan.hostPort("frontendAdmin")}/metrics`,
    "orders sidecar": `http://${plan.hostPort("ordersAdmin")}/metrics`,
  };
  return {
    stateDir: displayPath(layout.root),
    meshJson: displayPath(layout.meshJson),
    policyFiles: { orders: displayPath(join(configDir, "orders.policy.yaml")), frontend: displayPath(join(configDir, "frontend.policy.yaml")) },
    calls: [
      { title: `${CLIENTS.allowed.spiffeId} → orders`, expected: "allowed", outcome: allowed, command: curlCommand(shown(allowedFiles), plan.hostPort("ordersInbound")) },
      { title: `${CLIENTS.denied.spiffeId} → orders`, expected: "refused", outcome: denied, command: curlCommand(shown(deniedFiles), plan.hostPort("ordersInbound")) },
      { title: "frontend app → frontend sidecar → orders sidecar → orders app", expected: "allowed", outcome: appPath, command: `curl -sS http://${plan.hostPort("frontendApp")}/` },
    ],
    curlNote: CURL_NOTE,
    opensslCommand: opensslCommand(shown(allowedFiles), plan.hostPort("ordersInbound")),
    metrics,
    counters: await movedCounters(metrics["orders sidecar"]),
  };
}

/** The orders sidecar's non-zero handshake and authorization counters. */
async function movedCounters(url: string): Promise<string[]> {
  try {
    const text = await (await fetch(url)).text();
    return text.split("\n").filter((l) => /^mesh_sidecar_(authz_decisions_total|tls_handshakes_total)\{/.test(l) && !/ 0$/.test(l));
  } catch {
    return [];
  }
}

/**
 * Writes our PID into the state directory; returns the PID of another live
 * `npm start` that already owns it, if any.
 */
function claimStateDir(layout: StateLayout): number | undefined {
  mkdirSync(layout.root, { recursive: true });
  if (existsSync(layout.pidFile)) {
    const pid = Number(readFileSync(layout.pidFile, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isLocalMesh(pid)) return pid;
  }
  writeFileSync(layout.pidFile, `${process.pid}\n`, { flag: "w" });
  return undefined;
}

/** True when `pid` is alive and (where /proc tells) is another `npm start`, not an unrelated process that reused the PID. */
function isLocalMesh(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("deploy/local/start");
  } catch {
    return true;
  }
}

/**
 * `npm start` runs us under `sh -c`; when npm is killed, the shell dies
 * without passing the signal on. Noticing that our parent changed lets us
 * stop the mesh instead of leaving it running unowned.
 */
function watchParent(onOrphaned: () => void): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) onOrphaned();
  }, 1_000).unref();
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

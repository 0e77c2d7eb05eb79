/**
 * Is the local mesh's port free, and is each process ready? Failures name
 * the port, who wanted it, and the one setting that moves every port.
 */
import { connect, createServer } from "node:net";
import { BASE_PORT_ENV, PORTS, PORT_SPAN, type MeshPlan, type PortRole } from "./plan.js";
import type { Child } from "./supervisor.js";

const POLL_MS = 150;
const PROBE_TIMEOUT_MS = 2_000;

/** The roles whose port cannot be bound right now. */
export async function busyPorts(plan: MeshPlan): Promise<PortRole[]> {
  const busy: PortRole[] = [];
  for (const role of Object.keys(PORTS) as PortRole[]) {
    if (!(await canBind(plan.host, plan.port(role)))) busy.push(role);
  }
  return busy;
}

/** "port 18021 (orders sidecar inbound listener, ...) is already in use ..." */
export function portInUseMessage(plan: MeshPlan, role: PortRole): string {
  const suggestion = plan.basePort + 1000 + PORT_SPAN <= 65536 ? plan.basePort + 1000 : 10_000;
  return (
    `port ${plan.port(role)} on ${plan.host} is already in use; the local mesh needs it for the ${PORTS[role].what}. ` +
    `Stop whatever listens there (ss -ltnp 'sport = :${plan.port(role)}' shows it), or move every port of the mesh at once: ` +
    `${BASE_PORT_ENV}=${suggestion} npm start (now ${plan.basePort}; the mesh uses ${plan.basePort}-${plan.basePort + PORT_SPAN - 1})`
  );
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Waits until `url` answers 200 (an admin /readyz), or, with `listening`,
 * until something accepts TCP connections on the URL's port (a sample app).
 * Fails at once when the process exits, naming the port if it lost a race
 * for one.
 */
export async function waitReady(url: string, child: Child, timeoutMs: number, plan: MeshPlan, { listening = false } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  for (;;) {
    if (child.done) throw new Error(exitMessage(child, plan));
    const target = new URL(url);
    const state = listening ? await tcpProbe(target.hostname, Number(target.port)) : await httpProbe(url);
    if (state === "ready") return;
    last = state;
    if (Date.now() > deadline) {
      throw new Error(`${child.name} was not ready within ${timeoutMs / 1000} s (${url}: ${last}); its log is above`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function exitMessage(child: Child, plan: MeshPlan): string {
  const text = child.recentLines().join("\n");
  if (/EADDRINUSE/.test(text)) {
    const port = /(?:EADDRINUSE|in use)\D{0,40}(\d{2,5})/.exec(text)?.[1] ?? /:(\d{2,5})\b/.exec(text.slice(text.indexOf("EADDRINUSE")))?.[1];
    const role = (Object.keys(PORTS) as PortRole[]).find((r) => String(plan.port(r)) === port);
    if (role) return `${child.name} could not listen: ${portInUseMessage(plan, role)}`;
  }
  return `${child.name} exited before it was ready; its last lines are above`;
}

async function httpProbe(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    const body = (await res.text()).trim();
    return res.status === 200 ? "ready" : `${res.status} ${body}`;
  } catch (err) {
    return (err as Error).message;
  }
}

function tcpProbe(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: PROBE_TIMEOUT_MS });
    socket.once("connect", () => {
      socket.destroy();
      resolve("ready");
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve("connect timed out");
    });
    socket.once("error", (err) => resolve(err.message));
  });
}

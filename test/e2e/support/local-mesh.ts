/**
 * Runs `npm start`'s real code (dist/deploy/local/start.js with the shipped
 * deploy/local/*.yaml) on a free block of ports and a temporary state
 * directory, so tests never touch a developer's own `.mesh-local/` or mesh.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePortBlock, type ManagedProcess, type ProcessGroup } from "../../helpers/processes.js";
import { REPO, requireBuilt, START_JS } from "./mesh.js";

/** Ports the local mesh spans from its base (deploy/local/plan.ts PORT_SPAN). */
export const LOCAL_MESH_PORT_SPAN = 24;

/** A running `npm start`. */
export interface LocalMesh {
  proc: ManagedProcess;
  basePort: number;
  stateDir: string;
  /** The JSON "ready" record with the calls, commands and metrics URLs. */
  ready: ReadyRecord;
}

/** The summary `npm start` logs as JSON when its output is piped. */
export interface ReadyRecord {
  event: "ready";
  stateDir: string;
  meshJson: string;
  policyFiles: Record<string, string>;
  /** `caller`: the SPIFFE ID the orders app read from its PROXY v2 header, when the call reached it. */
  calls: { title: string; expected: string; result: string; detail: string; status?: number; caller?: string; command: string }[];
  curlNote: string;
  opensslCommand: string;
  metrics: Record<string, string>;
  counters: string[];
}

/** Starts `node dist/deploy/local/start.js` (without waiting). */
export function spawnLocalMesh(group: ProcessGroup, { basePort, stateDir, name = "npm-start" }: { basePort: number; stateDir: string; name?: string }): ManagedProcess {
  requireBuilt();
  return group.start({
    name,
    command: process.execPath,
    args: [START_JS],
    cwd: REPO,
    env: { ...process.env, MESH_LOCAL_BASE_PORT: String(basePort), MESH_LOCAL_DIR: stateDir, MESH_LOCAL_LOG_FORMAT: "json" },
  });
}

/** Starts it on fresh ports and waits for the ready record. */
export async function startLocalMesh(group: ProcessGroup, stateDir = mkdtempSync(join(tmpdir(), "mesh-local-"))): Promise<LocalMesh> {
  const basePort = await freePortBlock(LOCAL_MESH_PORT_SPAN);
  const proc = spawnLocalMesh(group, { basePort, stateDir });
  const ready = await waitForReadyRecord(proc);
  return { proc, basePort, stateDir, ready };
}

/** Waits for the "ready" JSON record on the process's output. */
export async function waitForReadyRecord(proc: ManagedProcess, timeoutMs = 60_000): Promise<ReadyRecord> {
  const line = await proc.waitForLine((l) => l.startsWith("{") && l.includes('"event":"ready"'), timeoutMs);
  return JSON.parse(line) as ReadyRecord;
}

/**
 * `npm start` stops every process it started on SIGTERM (and on Ctrl-C's
 * SIGINT), exits 0, and a second run on the same ports and the same state
 * directory starts cleanly, reusing the CA made by the first.
 */
import { readFileSync, rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { ProcessGroup, type ManagedProcess } from "../helpers/processes.js";
import { spawnLocalMesh, startLocalMesh, waitForReadyRecord } from "./support/local-mesh.js";

/** PIDs of the children, from the `pid` every pino line carries. */
function childPids(proc: ManagedProcess): Map<string, number> {
  const pids = new Map<string, number>();
  for (const l of proc.jsonLines()) {
    if (l.proc !== "npm-start" && typeof l.proc === "string" && typeof l.pid === "number") pids.set(l.proc, l.pid);
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("npm start stops cleanly and starts again", () => {
  const group = new ProcessGroup();
  let stateDir: string | undefined;

  afterAll(async () => {
    await group.stopAll();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it("stops every child on SIGTERM, then starts again on the same ports with the same CA, and stops on SIGINT", { timeout: 120_000 }, async () => {
    const first = await startLocalMesh(group);
    stateDir = first.stateDir;
    const caCert = readFileSync(`${first.stateDir}/ca/ca.crt`, "utf8");
    const pids = childPids(first.proc);
    expect([...pids.keys()].sort()).toEqual(["frontend", "frontend-sidecar", "mesh-ca", "orders", "orders-sidecar"]);
    for (const pid of pids.values()) expect(alive(pid)).toBe(true);

    first.proc.signal("SIGTERM");
    expect(await first.proc.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    for (const [name, pid] of pids) expect(alive(pid), `${name} (pid ${pid}) still runs`).toBe(false);

    const second = spawnLocalMesh(group, { basePort: first.basePort, stateDir: first.stateDir, name: "npm-start (2nd run)" });
    const ready = await waitForReadyRecord(second);
    expect(ready.calls.map((c) => c.result)).toEqual(["allowed", "refused", "allowed"]);
    expect(second.output).toContain("reusing the CA");
    expect(readFileSync(`${first.stateDir}/ca/ca.crt`, "utf8")).toBe(caCert);

    const secondPids = childPids(second);
    second.signal("SIGINT");
    expect(await second.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    for (const [name, pid] of secondPids) expect(alive(pid), `${name} (pid ${pid}) still runs`).toBe(false);
  });
});

/**
 * `npm start` when one of its ports is taken: it starts nothing, and says
 * which port, what needed it, and the one setting that moves the whole mesh.
 */
import { createServer, type Server } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePortBlock, ProcessGroup } from "../helpers/processes.js";
import { LOCAL_MESH_PORT_SPAN, spawnLocalMesh } from "./support/local-mesh.js";

describe("npm start with a port in use", () => {
  const group = new ProcessGroup();
  const stateDir = mkdtempSync(join(tmpdir(), "mesh-local-"));
  let blocker: Server | undefined;

  afterAll(async () => {
    await group.stopAll();
    await new Promise<void>((r) => (blocker ? blocker.close(() => r()) : r()));
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("names the port, who needs it and MESH_LOCAL_BASE_PORT, and exits 1 without starting anything", async () => {
    const base = await freePortBlock(LOCAL_MESH_PORT_SPAN);
    const taken = base + 21; // the orders sidecar's inbound listener
    blocker = createServer();
    await new Promise<void>((r) => blocker?.listen(taken, "127.0.0.1", r));

    const proc = spawnLocalMesh(group, { basePort: base, stateDir });
    expect(await proc.waitForExit(30_000)).toEqual({ code: 1, signal: null });
    const errors = proc.jsonLines().filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    const message = String(errors[0]?.msg);
    expect(message).toContain(`port ${taken}`);
    expect(message).toContain("orders sidecar inbound listener");
    expect(message).toContain("MESH_LOCAL_BASE_PORT=");
    expect(new Set(proc.jsonLines().map((l) => l.proc))).toEqual(new Set(["npm-start"]));
  });
});

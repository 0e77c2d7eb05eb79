/**
 * SIGTERM to both sidecars in the middle of a long download: they turn not
 * ready at once and take no new connection, the transfer already under way
 * completes byte for byte, and each sidecar then exits 0 within its drain
 * grace (limits.drainGrace, 10 s here).
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/processes.js";
import { bulkByte } from "./support/backends.js";
import { plainGet, splitHostPort } from "./support/clients.js";
import { startTwoPods, type TwoPods } from "./support/two-pods.js";

const TOTAL = 8 * 1024 * 1024;
const CHUNK = 64 * 1024;
const DELAY_MS = 30; // 128 chunks: about 4 s
const GRACE_MS = 10_000;

/** Starts the download; resolves `started` at the first bytes and `done` with the count of correct bytes. */
function download(hostPort: string): { started: Promise<void>; done: Promise<{ bytes: number; intact: boolean }> } {
  const [host, port] = splitHostPort(hostPort);
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  const done = new Promise<{ bytes: number; intact: boolean }>((resolve, reject) => {
    const req = request({ host, port, path: `/bulk?bytes=${TOTAL}&chunk=${CHUNK}&delayMs=${DELAY_MS}`, agent: false }, (res) => {
      let bytes = 0;
      let intact = res.statusCode === 200;
      res.on("data", (buf: Buffer) => {
        if (bytes === 0) markStarted();
        for (let i = 0; i < buf.length && intact; i++) intact = buf[i] === bulkByte(bytes + i);
        bytes += buf.length;
      });
      res.on("end", () => resolve({ bytes, intact }));
      res.on("error", reject);
      res.on("aborted", () => reject(new Error(`download aborted after ${bytes} bytes`)));
    });
    req.on("error", reject);
    req.end();
  });
  return { started, done };
}

describe("SIGTERM during a long transfer", () => {
  let mesh: TwoPods;

  beforeAll(async () => {
    mesh = await startTwoPods({ sidecar: { limits: { drainGrace: `${GRACE_MS / 1000}s` } } });
  });

  afterAll(async () => {
    await mesh?.close();
  });

  it("lets the transfer finish, refuses new connections, and exits 0 within the grace", { timeout: 60_000 }, async () => {
    const transfer = download(mesh.frontendToOrders);
    await transfer.started;
    const signalledAt = Date.now();
    mesh.orders.proc?.signal("SIGTERM");
    mesh.frontend.proc?.signal("SIGTERM");

    await waitFor("both sidecars to report not ready", async () => (await mesh.orders.readyStatus()) !== 200 && (await mesh.frontend.readyStatus()) !== 200, {
      timeoutMs: 2_000,
      intervalMs: 50,
    });
    await expect(plainGet(mesh.frontendToOrders, { timeoutMs: 2_000 })).rejects.toThrow();

    const result = await transfer.done;
    expect(result).toEqual({ bytes: TOTAL, intact: true });
    const [orders, frontend] = await Promise.all([mesh.orders.proc?.waitForExit(GRACE_MS + 5_000), mesh.frontend.proc?.waitForExit(GRACE_MS + 5_000)]);
    expect(orders).toEqual({ code: 0, signal: null });
    expect(frontend).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(GRACE_MS + 3_000);
  });
});

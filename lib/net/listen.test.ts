import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { listenOn } from "./listen.js";

const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => (s.listening ? s.close(resolve) : resolve(undefined)))));
});

function server(): ReturnType<typeof createServer> {
  const s = createServer();
  servers.push(s);
  return s;
}

describe("listenOn", () => {
  it("resolves with the port the system picked for port 0", async () => {
    const bound = await listenOn(server(), { host: "127.0.0.1", port: 0 });
    expect(bound.host).toBe("127.0.0.1");
    expect(bound.port).toBeGreaterThan(0);
  });

  it("rejects with the bind error when the address is taken, and leaves no error listener behind", async () => {
    const first = await listenOn(server(), { host: "127.0.0.1", port: 0 });
    const second = server();
    await expect(listenOn(second, first)).rejects.toMatchObject({ code: "EADDRINUSE" });
    expect(second.listenerCount("error")).toBe(0);
  });

  it("removes its error listener once bound", async () => {
    const s = server();
    await listenOn(s, { host: "127.0.0.1", port: 0 });
    expect(s.listenerCount("error")).toBe(0);
  });
});

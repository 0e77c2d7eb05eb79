/**
 * Before measuring, one connection tells what a target negotiates (protocol,
 * cipher, key-exchange group) and how many TLS 1.3 session tickets it sends,
 * so "compare like with like" is checked rather than assumed; and a client
 * outside the policy must get no byte echoed back.
 */
import type { TLSSocket } from "node:tls";
import { open, type Endpoint } from "./connect.js";
import type { LoadResult } from "./jobs.js";

const TICKET_WAIT_MS = 300;
const DENIED_WAIT_MS = 2000;

/** Connects once as the allowed client, echoes 16 bytes, counts tickets. */
async function negotiate(target: Endpoint): Promise<Partial<LoadResult> & { echoed: boolean }> {
  return new Promise((resolve) => {
    let tickets = 0;
    let got = 0;
    const socket = open(target, (s) => s.write(Buffer.alloc(16, 0x50)));
    socket.on("session", () => tickets++);
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      got += chunk.length;
      if (got < 16) return;
      setTimeout(() => {
        const tls = socket as Partial<TLSSocket>;
        const info = tls.getEphemeralKeyInfo?.();
        resolve({
          echoed: true,
          tickets: target.tls ? tickets : 0,
          protocol: tls.getProtocol?.() ?? "tcp",
          cipher: tls.getCipher?.().name ?? "none",
          group: info && "name" in info ? String(info.name) : "none",
        });
        socket.destroy();
      }, TICKET_WAIT_MS);
    });
    socket.on("close", () => resolve({ echoed: false }));
  });
}

/** True when the denied client's 16 bytes never come back. */
async function refuses(denied: Endpoint): Promise<boolean> {
  return new Promise((resolve) => {
    let got = 0;
    const socket = open(denied, (s) => s.write(Buffer.alloc(16, 0x58)));
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => (got += chunk.length));
    const done = (): void => {
      resolve(got === 0);
      socket.destroy();
    };
    socket.on("close", done);
    setTimeout(done, DENIED_WAIT_MS);
  });
}

/** Runs the probe job. */
export async function probe(target: Endpoint, denied: Endpoint | undefined): Promise<LoadResult> {
  const n = await negotiate(target);
  const deniedRefused = denied ? await refuses(denied) : undefined;
  return {
    seconds: 0,
    proxyCpu: Number.NaN,
    loadgenCpu: 0,
    ops: n.echoed ? 1 : 0,
    errors: n.echoed ? 0 : 1,
    bytes: 0,
    ...(n.tickets === undefined ? {} : { tickets: n.tickets, protocol: n.protocol, cipher: n.cipher, group: n.group }),
    ...(deniedRefused === undefined ? {} : { deniedRefused }),
  };
}

import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { proxyV2Header, type ProxyHeaderFacts } from "../../sidecar/listeners/proxy-protocol.js";
import { parseProxyV2, readProxyHeader } from "./proxy-header.js";

const FACTS: ProxyHeaderFacts = {
  source: { address: "127.0.0.1", port: 40168 },
  destination: { address: "127.0.0.1", port: 18021 },
  tlsVersion: "TLSv1.3",
  cipher: "TLS_AES_128_GCM_SHA256",
  resumed: false,
  peerId: "spiffe://example.org/ns/default/sa/frontend",
};

describe("the sample app's PROXY v2 reader", () => {
  it("reads the caller from the header the sidecar writes", () => {
    expect(parseProxyV2(proxyV2Header(FACTS))).toEqual({
      spiffeId: FACTS.peerId,
      address: "127.0.0.1:40168",
      listener: "127.0.0.1:18021",
      tls: { version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", resumed: false },
    });
    expect(parseProxyV2(proxyV2Header({ ...FACTS, resumed: true })).tls?.resumed).toBe(true);
    expect(parseProxyV2(proxyV2Header({ ...FACTS, source: { address: "fd00::2", port: 1 }, destination: { address: "fd00::1", port: 2 } })).address).toBe("fd00:0:0:0:0:0:0:2:1");
  });

  it("refuses what is not a v2 PROXY header over TCP", () => {
    const good = proxyV2Header(FACTS);
    expect(() => parseProxyV2(Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))).toThrow(/does not start with a PROXY v2 header/);
    const local = Buffer.from(good);
    local[12] = 0x20;
    expect(() => parseProxyV2(local)).toThrow(/expected version 2, command PROXY/);
    const udp = Buffer.from(good);
    udp[13] = 0x12;
    expect(() => parseProxyV2(udp)).toThrow(/expected TCP over IPv4 or IPv6/);
    expect(() => parseProxyV2(good.subarray(0, good.length - 1))).toThrow(/length does not match/);
  });
});

describe("readProxyHeader on a socket", () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** Sends `chunks` with a pause between them; resolves with what the reader made of it and the bytes left for the app. */
  async function receive(chunks: Buffer[], end = false): Promise<{ caller?: unknown; error?: string; after: string }> {
    const result = new Promise<{ caller?: unknown; error?: string; after: string }>((resolve) => {
      server = createServer((socket: Socket) => {
        readProxyHeader(socket, 2_000).then(
          (caller) => {
            let after = "";
            socket.on("data", (d: Buffer) => (after += d.toString()));
            socket.on("end", () => resolve({ caller, after }));
          },
          (err: Error) => resolve({ error: err.message, after: "" }),
        );
      });
    });
    await new Promise<void>((r) => (server as Server).listen(0, "127.0.0.1", r));
    const client = connect((server?.address() as AddressInfo).port, "127.0.0.1");
    client.on("error", () => undefined);
    await new Promise((r) => client.once("connect", r));
    for (const c of chunks) {
      client.write(c);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (end || chunks.length > 0) client.end();
    return result;
  }

  it("takes a header that arrives in pieces and leaves the app's bytes, in order, to whoever reads next", async () => {
    const header = proxyV2Header(FACTS);
    const r = await receive([header.subarray(0, 10), header.subarray(10, 30), Buffer.concat([header.subarray(30), Buffer.from("GET / ")]), Buffer.from("HTTP/1.0\r\n\r\n")]);
    expect(r.caller).toMatchObject({ spiffeId: FACTS.peerId });
    expect(r.after).toBe("GET / HTTP/1.0\r\n\r\n");
  });

  it("refuses a connection whose first bytes are not a header, and one that ends before a whole header", async () => {
    expect((await receive([Buffer.from("GET / HTTP/1.0\r\n\r\n")])).error).toMatch(/does not start with a PROXY v2 header/);
    expect((await receive([proxyV2Header(FACTS).subarray(0, 20)])).error).toMatch(/closed before a PROXY v2 header arrived/);
  });
});

/**
 * Requests refused by the HTTP layer before the API sees them, over raw TLS
 * sockets as a misbehaving client sends them: headers over 16 KiB (a
 * 17,000-byte bearer token), a request line that is not HTTP, a header
 * with a forbidden byte, and a client that sends half its headers and
 * stalls past limits.headersTimeout. Each gets a complete HTTP/1.1 answer
 * with the API's JSON error body and `connection: close`, one log line
 * without the token, and a count in mesh_ca_http_refusals_total{code}.
 */
import { randomBytes } from "node:crypto";
import { connect, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, configFor, initCaDir, metricValue, startTestServer, tempDir, type TestCaServer } from "./support.js";

let dir: Awaited<ReturnType<typeof tempDir>>;
let ca: TestCaServer;

beforeAll(async () => {
  dir = await tempDir("ca-http-refusals-");
  await initCaDir(dir.path);
  // The shortest timeouts the config allows, so the stalled client is refused within a few seconds.
  ca = await startTestServer(configFor(dir.path, "attestation:\n  joinTokens:\n    storeFile: tokens.json\nlimits:\n  headersTimeout: 1s\n  requestTimeout: 1s\n"));
});

afterAll(async () => {
  await ca?.stop();
  await dir?.cleanup();
});

/** A raw answer: status, headers (lowercase names), body, and whether the server closed the connection. */
interface RawAnswer {
  status: number;
  statusLine: string;
  headers: Record<string, string>;
  body: string;
  closed: boolean;
}

/** Writes `bytes` on a TLS connection to the API (after the handshake), then reads until the server closes it. */
function sendRaw(bytes: string | Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: ca.server.apiAddress.host, port: ca.server.apiAddress.port, ca: ca.bundlePem, servername: "localhost" });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error("the server did not close the connection within 15 s")), 15_000);
    socket.once("secureConnect", () => socket.write(bytes));
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", () => {
      // A reset after the answer: what was read is what counts.
    });
    socket.once("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("utf8");
      const [head = "", ...rest] = text.split("\r\n\r\n");
      const [statusLine = "", ...headerLines] = head.split("\r\n");
      const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      resolve({ status: Number(statusLine.split(" ")[1]), statusLine, headers, body: rest.join("\r\n\r\n"), closed: true });
    });
  });
}

const refusals = (code: string): Promise<number | undefined> => metricValue(ca.server, `mesh_ca_http_refusals_total{code="${code}"}`);

/** Asserts the answer is a complete JSON refusal with `status` and `code`; returns its message. */
function expectJsonRefusal(answer: RawAnswer, status: number, reason: string, code: string): string {
  expect(answer.statusLine).toBe(`HTTP/1.1 ${status} ${reason}`);
  expect(answer.headers["content-type"]).toBe("application/json");
  expect(answer.headers.connection).toBe("close");
  expect(Number(answer.headers["content-length"])).toBe(Buffer.byteLength(answer.body));
  const body = JSON.parse(answer.body) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(body.error.code).toBe(code);
  return body.error.message;
}

/** The http_refused log lines written while `fn` ran. */
async function refusalLines(fn: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const before = ca.logs.lines.length;
  await fn();
  return ca.logs.lines.slice(before).filter((l) => l.event === "http_refused");
}

describe("requests refused before they are parsed", () => {
  it("are counted per code, every code present at 0 from the start", async () => {
    for (const code of ["HEADERS_TOO_LARGE", "MALFORMED_REQUEST", "REQUEST_TIMEOUT"]) expect(await refusals(code), code).toBe(0);
  });

  it("headers over 16 KiB (a 17,000-byte bearer token): 431 HEADERS_TOO_LARGE, one log line without the token, counted", async () => {
    const token = randomBytes(12_750).toString("base64url"); // 17,000 characters
    expect(token).toHaveLength(17_000);
    let answer: RawAnswer | undefined;
    const lines = await refusalLines(async () => {
      answer = await sendRaw(`POST /v1/svid HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
    });
    const message = expectJsonRefusal(answer as RawAnswer, 431, "Request Header Fields Too Large", "HEADERS_TOO_LARGE");
    expect(message).toContain("larger than 16384 bytes");
    expect(lines).toEqual([expect.objectContaining({ code: "HEADERS_TOO_LARGE", status: 431, nodeCode: "HPE_HEADER_OVERFLOW", remoteAddress: "127.0.0.1" })]);
    expect(ca.logs.raw.join("\n")).not.toContain(token.slice(0, 40));
    expect(await refusals("HEADERS_TOO_LARGE")).toBe(1);
  });

  it.each([
    ["a request line that is not HTTP", "HELLO mesh-ca, PLEASE SIGN\r\n\r\n", "HPE_INVALID_METHOD"],
    ["a header with a NUL byte", "GET /v1/bundle HTTP/1.1\r\nHost: localhost\r\nX-Token: secret\u0000value\r\n\r\n", "HPE_INVALID_HEADER_TOKEN"],
  ])("%s: 400 MALFORMED_REQUEST, logged with Node's code, counted", async (_what, bytes, nodeCode) => {
    const before = (await refusals("MALFORMED_REQUEST")) as number;
    let answer: RawAnswer | undefined;
    const lines = await refusalLines(async () => {
      answer = await sendRaw(bytes);
    });
    const message = expectJsonRefusal(answer as RawAnswer, 400, "Bad Request", "MALFORMED_REQUEST");
    expect(message).toMatch(/^the request is not valid HTTP\/1\.1/);
    expect(message).not.toContain("secret");
    expect(lines).toEqual([expect.objectContaining({ code: "MALFORMED_REQUEST", status: 400, nodeCode, remoteAddress: "127.0.0.1" })]);
    expect(ca.logs.raw.join("\n")).not.toContain("secret");
    expect(await refusals("MALFORMED_REQUEST")).toBe(before + 1);
  });

  it("half a header, then silence past limits.headersTimeout: 408 REQUEST_TIMEOUT naming the limits, counted", async () => {
    let answer: RawAnswer | undefined;
    const lines = await refusalLines(async () => {
      answer = await sendRaw("POST /v1/svid HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer meshjt_stalled-token-value");
    });
    const message = expectJsonRefusal(answer as RawAnswer, 408, "Request Timeout", "REQUEST_TIMEOUT");
    expect(message).toContain("within 1s (limits.headersTimeout)");
    expect(lines).toEqual([expect.objectContaining({ code: "REQUEST_TIMEOUT", status: 408, nodeCode: "ERR_HTTP_REQUEST_TIMEOUT" })]);
    expect(ca.logs.raw.join("\n")).not.toContain("stalled-token-value");
    expect(await refusals("REQUEST_TIMEOUT")).toBe(1);
  });

  it("leave well-formed requests alone", async () => {
    const answer = await call(ca.server, { method: "GET", path: "/v1/bundle" });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(ca.bundlePem);
  });
});

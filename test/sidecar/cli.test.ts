/**
 * The built CLI (dist/sidecar/cli.js, made by `npm run build` before
 * `npm test`): check-policy's output and exit codes, config errors, and the
 * SIGTERM drain of a real process: not ready at once, no new connections, an
 * open transfer finishes, exit 0; a second signal exits at once.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeCa } from "./fake-ca.js";
import { Backend, DEFAULT_POLICY, httpGet, ID, TD, waitFor } from "./harness.js";

const CLI = resolve("dist/sidecar/cli.js");
const EXAMPLE_POLICY = resolve("docs/examples/policy.yaml");

let dir: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" (npm test does) before these tests`);
  dir = await mkdtemp(join(tmpdir(), "sidecar-cli-"));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

describe("mesh-sidecar check-policy", () => {
  it("validates the example policy: exit 0", async () => {
    const res = await runCli(["check-policy", "--policy", EXAMPLE_POLICY]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/valid \(2 listeners, \d+ entries\)/);
  });

  it("lists every error with line:col and exits 1 for an invalid policy", async () => {
    const file = join(dir, "bad-policy.yaml");
    await writeFile(file, ["version: 2", "listeners:", "  http:", "    allow:", "      - spiffe://Example.org/x", "    alow: []"].join("\n"));
    const res = await runCli(["check-policy", "--policy", file]);
    expect(res.code).toBe(1);
    const lines = res.stderr.trim().split("\n");
    expect(lines).toEqual([
      expect.stringMatching(/bad-policy\.yaml:1:10: version: this sidecar understands policy version 1, got 2$/),
      expect.stringMatching(/bad-policy\.yaml:5:9: listeners\.http\.allow\[0\]: .*trust domain characters are limited/),
      expect.stringMatching(/bad-policy\.yaml:6:5: listeners\.http\.alow: unknown key \(expected one of: allow, deny, mode\)$/),
      expect.stringMatching(/invalid \(3 errors\)$/),
    ]);
  });

  it("reports a YAML syntax error with its position and exits 1", async () => {
    const file = join(dir, "syntax.yaml");
    await writeFile(file, "version: 1\nlisteners:\n  http:\n    allow: [unclosed\n");
    const res = await runCli(["check-policy", "--policy", file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/syntax\.yaml:\d+:\d+: YAML syntax/);
  });

  const decisions: [string, string, string][] = [
    ["http", "spiffe://example.org/ns/web/sa/frontend", "allow spiffe://example.org/ns/web/sa/frontend"],
    ["http", "spiffe://example.org/ns/ops/debugger", "allow spiffe://example.org/ns/ops/*"],
    ["http", "spiffe://example.org/ns/web/sa/legacy", "deny spiffe://example.org/ns/web/sa/legacy"],
    ["http", "spiffe://example.org/ns/other/sa/x", "deny default"],
    ["nope", "spiffe://example.org/ns/web/sa/frontend", "deny default"],
  ];
  for (const [listener, peer, line] of decisions) {
    it(`explains listener ${listener} and peer ${peer}: "${line}"`, async () => {
      const res = await runCli(["check-policy", "--policy", EXAMPLE_POLICY, "--listener", listener, "--peer", peer]);
      expect(res.code).toBe(0);
      expect(res.stdout).toBe(`${line}\n`);
    });
  }

  it("exits 2 for a peer that is not a SPIFFE ID, or --listener without --peer", async () => {
    const bad = await runCli(["check-policy", "--policy", EXAMPLE_POLICY, "--listener", "http", "--peer", "spiffe://Example.org/x"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("is not a SPIFFE ID");
    const half = await runCli(["check-policy", "--policy", EXAMPLE_POLICY, "--listener", "http"]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain("--listener and --peer go together");
  });
});

describe("mesh-sidecar --config", () => {
  it("reports every config error at once with key paths and exits 2", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(file, ["trustDomain: example.org", "ca:", "  url: http://ca:8443", "inbound:", "  - name: HTTP", "    listen: 0.0.0.0:15006", "limits:", "  idleTimeout: forever"].join("\n"));
    const res = await runCli(["--config", file]);
    expect(res.code).toBe(2);
    for (const expected of ["ca.url: expected an https:// URL", "ca.bundleFile: is required", "inbound[0].name:", "inbound[0].forward: is required", "policyFile: is required", "limits.idleTimeout:", "ca.tokenFile: set exactly one"]) {
      expect(res.stderr).toContain(expected);
    }
  });
});

/** A free loopback port (bound, then released) for the spawned sidecar's config. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe("SIGTERM drain (real process)", () => {
  let ca: FakeCa;
  let backend: Backend;

  beforeAll(async () => {
    ca = await FakeCa.create();
    ca.tokens.set("token-orders", ID.self);
    // The app streams 12 chunks, 150 ms apart, then ends: a transfer in progress at SIGTERM.
    backend = await Backend.start((socket: Socket) => {
      let n = 0;
      const timer = setInterval(() => {
        socket.write(`chunk-${n++};`);
        if (n === 12) {
          clearInterval(timer);
          socket.end();
        }
      }, 150);
      socket.on("close", () => clearInterval(timer));
    });
    await writeFile(join(dir, "bundle.pem"), ca.bundlePem);
    await writeFile(join(dir, "token"), "token-orders\n");
    await writeFile(join(dir, "policy.yaml"), DEFAULT_POLICY);
  });

  const children: ChildProcess[] = [];

  afterAll(async () => {
    // A failed test may leave its sidecar running: stop the ones this file started.
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await backend?.close();
    await ca?.stop();
  });

  async function startCli(drainGrace: string, env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; inbound: number; admin: string; output: () => string; exit: Promise<number | null> }> {
    const inbound = await freePort();
    const admin = await freePort();
    const file = join(dir, `sidecar-${inbound}.yaml`);
    await writeFile(
      file,
      [
        `trustDomain: ${TD}`,
        "ca:",
        `  url: ${ca.url}`,
        "  bundleFile: bundle.pem",
        "  tokenFile: token",
        "inbound:",
        "  - name: http",
        `    listen: 127.0.0.1:${inbound}`,
        `    forward: ${backend.address}`,
        "policyFile: policy.yaml",
        `admin: 127.0.0.1:${admin}`,
        "limits:",
        `  drainGrace: ${drainGrace}`,
      ].join("\n"),
    );
    const child = spawn(process.execPath, [CLI, "--config", file], { stdio: ["ignore", "pipe", "pipe"], env });
    children.push(child);
    let output = "";
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const exit = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const adminUrl = `http://127.0.0.1:${admin}`;
    await waitFor("the spawned sidecar to be ready", async () => (await httpGet(`${adminUrl}/readyz`).catch(() => ({ status: 0 }))).status === 200, 20_000, 100);
    return { child, inbound, admin: adminUrl, output: () => output, exit };
  }

  /** Starts a streaming transfer through the sidecar; resolves with everything received once the stream closes. */
  async function startTransfer(port: number): Promise<{ firstChunk: Promise<void>; done: Promise<string> }> {
    const client = await ca.issue(ID.frontend);
    let got = "";
    let first: () => void = () => {};
    const firstChunk = new Promise<void>((r) => (first = r));
    const done = new Promise<string>((r) => {
      const s = tlsConnect({ host: "127.0.0.1", port, ca: ca.bundlePem, cert: client.chainPem, key: client.keyPem, checkServerIdentity: () => undefined });
      s.on("data", (d: Buffer) => {
        got += d.toString();
        first();
      });
      s.on("error", () => {});
      s.on("close", () => r(got));
    });
    return { firstChunk, done };
  }

  /** How many TLS 1.3 session tickets one full handshake with the sidecar yields. */
  async function ticketsPerHandshake(port: number): Promise<number> {
    const client = await ca.issue(ID.frontend);
    return new Promise<number>((r) => {
      let tickets = 0;
      const s = tlsConnect({ host: "127.0.0.1", port, ca: ca.bundlePem, cert: client.chainPem, key: client.keyPem, checkServerIdentity: () => undefined });
      s.on("session", () => tickets++);
      s.on("error", () => {});
      // Tickets follow the server's Finished at once; the first app byte comes after them.
      s.once("data", () => {
        s.destroy();
        r(tickets);
      });
    });
  }

  it("sends one TLS session ticket with the shipped OpenSSL config, and OpenSSL's two without it", async () => {
    const withConf = await startCli("1s", { ...process.env, OPENSSL_CONF: resolve("sidecar/openssl-sidecar.cnf") });
    expect(await ticketsPerHandshake(withConf.inbound)).toBe(1);
    withConf.child.kill("SIGTERM");
    expect(await withConf.exit).toBe(0);
    const { OPENSSL_CONF: _unset, ...plainEnv } = process.env;
    const without = await startCli("1s", plainEnv);
    expect(await ticketsPerHandshake(without.inbound)).toBe(2);
    without.child.kill("SIGTERM");
    expect(await without.exit).toBe(0);
  });

  it("stops being ready, refuses new connections, lets the open transfer finish, and exits 0", async () => {
    const cli = await startCli("20s");
    const transfer = await startTransfer(cli.inbound);
    await transfer.firstChunk;
    cli.child.kill("SIGTERM");
    await waitFor("not ready", async () => (await httpGet(`${cli.admin}/readyz`)).status === 503, 5_000, 20);
    const refused = await new Promise<string>((r) => {
      const s = tlsConnect({ host: "127.0.0.1", port: cli.inbound, ca: ca.bundlePem, checkServerIdentity: () => undefined });
      s.on("error", (err: Error & { code?: string }) => r(err.code ?? err.message));
      s.on("secureConnect", () => r("connected"));
    });
    expect(refused).toBe("ECONNREFUSED");
    const received = await transfer.done;
    expect(received).toBe(Array.from({ length: 12 }, (_, i) => `chunk-${i};`).join(""));
    expect(await cli.exit).toBe(0);
    expect(cli.output()).toContain('"forced":0');
  });

  it("closes what is still open when drainGrace is over, and still exits 0", async () => {
    const cli = await startCli("300ms");
    const transfer = await startTransfer(cli.inbound);
    await transfer.firstChunk;
    cli.child.kill("SIGTERM");
    const received = await transfer.done;
    expect(received.length).toBeLessThan(Array.from({ length: 12 }, (_, i) => `chunk-${i};`).join("").length);
    expect(await cli.exit).toBe(0);
    expect(cli.output()).toContain("drain grace is over");
  });

  it("exits at once, with code 1, on a second signal", async () => {
    const cli = await startCli("60s");
    const transfer = await startTransfer(cli.inbound);
    await transfer.firstChunk;
    cli.child.kill("SIGTERM");
    await waitFor("not ready", async () => (await httpGet(`${cli.admin}/readyz`)).status === 503, 5_000, 20);
    cli.child.kill("SIGTERM");
    expect(await cli.exit).toBe(1);
    expect(cli.output()).toContain("second signal");
    await transfer.done;
  });
});

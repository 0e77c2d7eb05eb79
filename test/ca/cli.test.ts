/**
 * The built command line, as users run it (`node dist/ca/cli.js`): help and
 * usage errors, config errors listed at once, `init` refusing to overwrite,
 * `issue` writing files curl can use, and `serve` draining on SIGTERM (the
 * request in flight completes, new connections are refused, readiness turns
 * false, exit 0) and exiting at once on a second signal.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagedProcess, run } from "../helpers/processes.js";
import { expectIssued, expectOpensslAccepts, expectValidSvid, makeCsr, tempDir, type ApiAnswer } from "./support.js";

const REPO = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..");
const CLI = join(REPO, "dist", "ca", "cli.js");

let dir: Awaited<ReturnType<typeof tempDir>>;
let caDir: string;

async function meshCa(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await run({ command: process.execPath, args: [CLI, ...args] });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `mesh-ca serve` and returns it with the addresses from its "serving" log line. */
async function serve(config: string): Promise<{ proc: ManagedProcess; api: URL; admin: string }> {
  const proc = new ManagedProcess({ name: "mesh-ca", command: process.execPath, args: [CLI, "serve", "--config", config] });
  const line = JSON.parse(await proc.waitForLine(/mesh-ca is serving/)) as { api: string; admin: string };
  return { proc, api: new URL(line.api), admin: line.admin };
}

/** A POST /v1/svid whose body is sent in two parts; the second part waits for `release`. */
function slowRequest(api: URL, bundlePem: string, token: string, body: string, release: Promise<void>): Promise<ApiAnswer> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      new URL("/v1/svid", api),
      {
        method: "POST",
        ca: bundlePem,
        agent: false,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, text, json: JSON.parse(text) as unknown });
        });
      },
    );
    req.on("error", reject);
    const half = Math.floor(body.length / 2);
    req.write(body.slice(0, half));
    void release.then(() => req.end(body.slice(half)));
  });
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" (npm test does it first)`);
  dir = await tempDir("ca-cli-");
  caDir = join(dir.path, "ca");
  const init = await meshCa("init", "--trust-domain", "example.org", "--dir", caDir, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0");
  expect(init.code, init.stderr).toBe(0);
});

afterAll(async () => {
  await dir?.cleanup();
});

describe("mesh-ca command line", () => {
  it("prints help for the program and each command", async () => {
    const top = await meshCa("--help");
    expect(top.code).toBe(0);
    for (const command of ["init", "serve", "issue", "token"]) expect(top.stdout).toContain(`  ${command} `);
    for (const command of ["init", "serve", "issue"]) {
      const help = await meshCa(command, "--help");
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: mesh-ca ${command}`);
    }
    expect((await meshCa("token", "create", "--help")).stdout).toContain("--spiffe-id ID");
  });

  it("prints its version with Node's and OpenSSL's for --version and -V", async () => {
    const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string };
    const line = `mesh-ca ${pkg.version} (Node.js ${process.versions.node}, OpenSSL ${process.versions.openssl})\n`;
    for (const flag of ["--version", "-V"]) {
      const r = await meshCa(flag);
      expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }, flag).toEqual({ code: 0, stdout: line.trimEnd(), stderr: "" });
    }
    const extra = await meshCa("--version", "now");
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain("mesh-ca --version: takes no arguments, got now");
  });

  it("exits 2 on an unknown command and lists every missing or bad flag at once", async () => {
    expect((await meshCa("bogus")).code).toBe(2);
    const r = await meshCa("init", "--key-type", "dsa", "--verbose");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("mesh-ca init: unknown flag --verbose");
    expect(r.stderr).toContain("mesh-ca init: flag --trust-domain is required");
    expect(r.stderr).toContain("mesh-ca init: flag --dir is required");
  });

  it("init wrote the files with the design's modes, and refuses to overwrite them without --force", async () => {
    expect((await stat(join(caDir, "ca.key"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(caDir, "tokens.json"))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(caDir, "bundle.pem"), "utf8")).toBe(await readFile(join(caDir, "ca.crt"), "utf8"));
    const again = await meshCa("init", "--trust-domain", "example.org", "--dir", caDir);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("pass --force");
    expect(again.stderr).toContain("CA_WOULD_OVERWRITE");
  });

  it("init refuses a directory holding files it did not write, writes nothing there, and --force writes beside them", async () => {
    const checkout = join(dir.path, "a-checkout");
    await mkdir(join(checkout, "src"), { recursive: true });
    await writeFile(join(checkout, "package.json"), "{}\n");
    const refused = await meshCa("init", "--trust-domain", "example.org", "--dir", checkout);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("CA_DIR_NOT_EMPTY");
    expect(refused.stderr).toContain("(package.json, src)");
    expect(refused.stderr).toContain("outside any source checkout");
    expect((await readdir(checkout)).sort()).toEqual(["package.json", "src"]);
    const forced = await meshCa("init", "--trust-domain", "example.org", "--dir", checkout, "--force");
    expect(forced.code).toBe(0);
    expect((await readdir(checkout)).sort()).toEqual(["bundle.pem", "ca.crt", "ca.key", "ca.yaml", "package.json", "src", "tokens.json"]);
  });

  it("init --key-type rsa-3072 and ec-p384 make working roots; --force replaces", async () => {
    for (const keyType of ["rsa-3072", "ec-p384"]) {
      const other = join(dir.path, `ca-${keyType}`);
      expect((await meshCa("init", "--trust-domain", "example.org", "--dir", other, "--key-type", keyType, "--validity", "24h")).code).toBe(0);
      const out = join(dir.path, `svid-${keyType}`);
      expect((await meshCa("issue", "--dir", other, "--spiffe-id", "spiffe://example.org/ns/a/sa/b", "--out", out)).code).toBe(0);
      await expectOpensslAccepts(await readFile(`${out}.crt`, "utf8"), await readFile(join(other, "bundle.pem"), "utf8"));
      const before = await readFile(join(other, "ca.crt"), "utf8");
      expect((await meshCa("init", "--trust-domain", "example.org", "--dir", other, "--key-type", keyType, "--force")).code).toBe(0);
      expect(await readFile(join(other, "ca.crt"), "utf8")).not.toBe(before);
    }
  });

  it("issue writes PREFIX.key (0600), PREFIX.crt and PREFIX.bundle.pem", async () => {
    const prefix = join(dir.path, "clients", "orders");
    const r = await meshCa("issue", "--dir", caDir, "--spiffe-id", "spiffe://example.org/ns/shop/sa/orders", "--out", prefix, "--ttl", "2h");
    expect(r.code, r.stderr).toBe(0);
    expect((await stat(`${prefix}.key`)).mode & 0o777).toBe(0o600);
    const bundlePem = await readFile(join(caDir, "bundle.pem"), "utf8");
    expect(await readFile(`${prefix}.bundle.pem`, "utf8")).toBe(bundlePem);
    const leaf = await expectValidSvid(await readFile(`${prefix}.crt`, "utf8"), bundlePem, "spiffe://example.org/ns/shop/sa/orders");
    expect(leaf.notAfter.getTime() - leaf.notBefore.getTime()).toBe(2 * 3600_000 + 30_000);
    const bad = await meshCa("issue", "--dir", caDir, "--spiffe-id", "spiffe://example.org", "--out", prefix, "--ttl", "48h");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--spiffe-id: an SVID's ID needs a path");
    expect(bad.stderr).toContain("--ttl: must be between 10s and 24h");
  });

  it("serve exits 2 listing every config problem with file, line and key", async () => {
    const config = join(dir.path, "bad.yaml");
    await writeFile(config, "trustDomain: Example.org\nlisten: nowhere\nlimits:\n  rateBurst: -1\n  colour: blue\n");
    const r = await meshCa("serve", "--config", config);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${config}:1:14: trustDomain:`);
    expect(r.stderr).toContain(`${config}:2:9: listen: expected host:port`);
    expect(r.stderr).toContain("limits.rateBurst: expected an integer from 1");
    expect(r.stderr).toContain("limits.colour: unknown key");
    expect(r.stderr).toContain("enable at least one of attestation.kubernetes and attestation.joinTokens");
  });

  it("serve drains on SIGTERM: the request in flight completes, new connections are refused, /readyz says 503, exit 0", async () => {
    const { proc, api, admin } = await serve(join(caDir, "ca.yaml"));
    try {
      const bundlePem = await readFile(join(caDir, "bundle.pem"), "utf8");
      expect((await fetch(`${admin}/readyz`)).status).toBe(200);
      const token = (await meshCa("token", "create", "--store", join(caDir, "tokens.json"), "--spiffe-id", "spiffe://example.org/vm/drain")).stdout.trim();
      let release = (): void => undefined;
      const released = new Promise<void>((r) => {
        release = r;
      });
      const inFlight = slowRequest(api, bundlePem, token, JSON.stringify({ csr: (await makeCsr()).csrPem }), released);
      await new Promise((r) => setTimeout(r, 300)); // the request is now being read by the server

      proc.signal("SIGTERM");
      await proc.waitForLine(/shutting down/);
      expect((await fetch(`${admin}/readyz`)).status).toBe(503);
      const refused = await fetch(`https://127.0.0.1:${api.port}/v1/bundle`).then(
        () => "connected",
        (err: Error) => String((err.cause as { code?: string } | undefined)?.code ?? err.message),
      );
      expect(refused).toBe("ECONNREFUSED");

      release();
      await expectIssued(await inFlight, "spiffe://example.org/vm/drain", bundlePem);
      expect(await proc.waitForExit(10_000)).toEqual({ code: 0, signal: null });
      expect(proc.output).toContain("mesh-ca stopped");
    } finally {
      await proc.stop(2_000);
    }
  });

  it("serve exits at once with code 1 on a second signal", async () => {
    const { proc, api } = await serve(join(caDir, "ca.yaml"));
    try {
      const bundlePem = await readFile(join(caDir, "bundle.pem"), "utf8");
      const never = new Promise<void>(() => undefined);
      const inFlight = slowRequest(api, bundlePem, "meshjt_x", "{".repeat(100), never).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      proc.signal("SIGTERM");
      await proc.waitForLine(/shutting down/);
      proc.signal("SIGINT");
      expect(await proc.waitForExit(5_000)).toEqual({ code: 1, signal: null });
      expect(proc.output).toContain("second signal");
      await inFlight;
    } finally {
      await proc.stop(2_000);
    }
  });
});

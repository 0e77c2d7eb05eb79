/**
 * Helpers for mesh-ca integration tests: a CA directory made by `init`, the
 * real server started in process on 127.0.0.1 with ports 0, an HTTPS client
 * for the API, CSRs, and the full check every issued SVID must pass (lib/spiffe
 * issuance profile, chain to the bundle, and `openssl verify -x509_strict`
 * for both TLS purposes).
 */
import { execFile } from "node:child_process";
import { webcrypto, KeyObject } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { expect } from "vitest";
import { createLogger } from "../../lib/log.js";
import { TrustBundle } from "../../lib/spiffe/bundle.js";
import { certificatesFromPem } from "../../lib/spiffe/certificates.js";
import { verifyChain } from "../../lib/spiffe/chain.js";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { checkIssuedSvid } from "../../lib/spiffe/svid.js";
import { x509 } from "../../lib/x509.js";
import { initCa } from "../../ca/commands/init.js";
import { loadCaConfig, type CaConfig } from "../../ca/config.js";
import { startCaServer, type CaServer, type CaServerDeps } from "../../ca/server/ca-server.js";

export const TRUST_DOMAIN = "example.org";

/** A temporary directory removed by cleanup(). */
export async function tempDir(prefix: string): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** Runs `mesh-ca init` (in process) into `dir` with ports 0. */
export async function initCaDir(dir: string, keyType: "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-3072" = "ec-p256"): Promise<void> {
  await initCa({
    trustDomain: TrustDomain.parse(TRUST_DOMAIN),
    dir,
    keyType,
    validityMs: 24 * 3600_000,
    force: false,
    listen: { host: "127.0.0.1", port: 0 },
    admin: { host: "127.0.0.1", port: 0 },
    now: new Date(),
  });
}

/** A config for a CA directory: init's defaults plus extra top-level YAML (later keys must not repeat earlier ones). */
export function configFor(dir: string, yaml: string, env: NodeJS.ProcessEnv = {}): CaConfig {
  return loadCaConfig(`trustDomain: ${TRUST_DOMAIN}\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\n${yaml}`, join(dir, "ca.yaml"), env);
}

/** Captured JSON log lines of a server. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() === "") continue;
        this.raw.push(line);
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });

  /** Lines whose `event` field is `event`. */
  events(event: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.event === event);
  }
}

/** A started CA with its log. */
export interface TestCaServer {
  server: CaServer;
  logs: LogCapture;
  bundlePem: string;
  stop: () => Promise<void>;
}

/** Starts the real server in process with a captured JSON log. */
export async function startTestServer(config: CaConfig, deps: CaServerDeps = {}): Promise<TestCaServer> {
  const logs = new LogCapture();
  const logger = createLogger({ name: "mesh-ca", level: "debug", format: "json", destination: logs.stream });
  const server = await startCaServer(config, { logger, ...deps });
  return { server, logs, bundlePem: server.authority.bundle.pem, stop: () => server.shutdown(1000) };
}

/** An API answer. */
export interface ApiAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/** Options of call(). */
export interface CallOptions {
  method?: string;
  path?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  bearer?: string;
  /** TLS client certificate (renewal). */
  clientCert?: { keyPem: string; certPem: string };
}

/** One HTTPS request to the API, trusting the CA's bundle, on a fresh connection. */
export function call(server: CaServer, opts: CallOptions = {}): Promise<ApiAnswer> {
  const url = new URL(opts.path ?? "/v1/svid", server.apiUrl);
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.bearer !== undefined) headers.authorization = `Bearer ${opts.bearer}`;
  if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method ?? "POST",
        headers,
        ca: server.authority.bundle.pem,
        agent: false,
        ...(opts.clientCert ? { key: opts.clientCert.keyPem, cert: opts.clientCert.certPem } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** POST /v1/svid with a JSON body {"csr", "ttl"?}. */
export function requestSvid(server: CaServer, csrPem: string, opts: Omit<CallOptions, "body"> & { ttl?: string } = {}): Promise<ApiAnswer> {
  const body = JSON.stringify(opts.ttl === undefined ? { csr: csrPem } : { csr: csrPem, ttl: opts.ttl });
  return call(server, { ...opts, body, headers: { "content-type": "application/json", ...opts.headers } });
}

/** Asserts an error answer: HTTP status and error code (and optionally the message). */
export function expectRefusal(answer: ApiAnswer, status: number, code: string, message?: RegExp): void {
  expect({ status: answer.status, code: (answer.json as { error?: { code?: string } } | undefined)?.error?.code }).toEqual({ status, code });
  if (message) expect((answer.json as { error: { message: string } }).error.message).toMatch(message);
}

/** A key pair and CSR made in process. */
export interface TestCsr {
  csrPem: string;
  keyPem: string;
  der: Buffer;
}

/** A CSR for a new key; `uris` become a SAN in the extensionRequest. */
export async function makeCsr(opts: { uris?: string[]; rsaBits?: number } = {}): Promise<TestCsr> {
  const algorithm =
    opts.rsaBits === undefined
      ? { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" }
      : { name: "RSASSA-PKCS1-v1_5", modulusLength: opts.rsaBits, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: "CN=workload",
    keys,
    signingAlgorithm: algorithm,
    extensions: opts.uris ? [new x509.SubjectAlternativeNameExtension(opts.uris.map((value) => ({ type: "url" as const, value })))] : [],
  });
  return {
    csrPem: csr.toString("pem"),
    keyPem: KeyObject.from(keys.privateKey).export({ type: "pkcs8", format: "pem" }).toString(),
    der: Buffer.from(csr.rawData),
  };
}

/** PEM of DER bytes with the given label. */
export function toPem(der: Uint8Array, label: string): string {
  return `-----BEGIN ${label}-----\n${Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END ${label}-----\n`;
}

function openssl(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile("openssl", args, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, output: stdout + stderr }));
  });
}

/** The 200 body of POST /v1/svid. */
export interface SvidBody {
  spiffeId: string;
  certChain: string;
  bundle: string;
  expiresAt: string;
}

/**
 * Asserts a 200 answer carries a good SVID for `id`: the contract's fields
 * and everything expectValidSvid checks.
 */
export async function expectIssued(answer: ApiAnswer, id: string, bundlePem: string): Promise<SvidBody> {
  expect(answer.status, answer.text).toBe(200);
  const body = answer.json as SvidBody;
  expect(body.spiffeId).toBe(id);
  expect(body.bundle).toBe(bundlePem);
  const leaf = await expectValidSvid(body.certChain, bundlePem, id);
  expect(new Date(body.expiresAt).getTime()).toBe(leaf.notAfter.getTime());
  return body;
}

/**
 * Asserts a PEM chain (leaf first) is a good SVID for `id`: lib/spiffe's
 * issuance profile, a chain to the bundle, and openssl verify -x509_strict
 * for sslclient and sslserver. Returns the leaf.
 */
export async function expectValidSvid(chainPem: string, bundlePem: string, id: string): Promise<x509.X509Certificate> {
  const chain = certificatesFromPem(chainPem);
  const first = chain[0];
  if (!first) throw new Error("empty chain");
  const leaf = new x509.X509Certificate(first.raw);
  const now = new Date();
  const td = TrustDomain.parse(TRUST_DOMAIN);
  expect(checkIssuedSvid(leaf, { now, trustDomain: td }).toString()).toBe(id);
  verifyChain(first, chain.slice(1), TrustBundle.fromPem(td, bundlePem), now);
  await expectOpensslAccepts(chainPem, bundlePem);
  return leaf;
}

/** openssl verify -x509_strict with -purpose sslclient and sslserver, leaf first, intermediates untrusted. */
export async function expectOpensslAccepts(chainPem: string, bundlePem: string): Promise<void> {
  const dir = await tempDir("ca-verify-");
  try {
    const certs = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    await writeFile(join(dir.path, "leaf.pem"), certs[0] ?? "");
    await writeFile(join(dir.path, "untrusted.pem"), certs.slice(1).join("") || (certs[0] ?? ""));
    await writeFile(join(dir.path, "bundle.pem"), bundlePem);
    for (const purpose of ["sslclient", "sslserver"]) {
      const result = await openssl([
        "verify",
        "-x509_strict",
        "-purpose",
        purpose,
        "-CAfile",
        join(dir.path, "bundle.pem"),
        ...(certs.length > 1 ? ["-untrusted", join(dir.path, "untrusted.pem")] : []),
        join(dir.path, "leaf.pem"),
      ]);
      expect(result.output, `openssl verify -purpose ${purpose}`).toContain("leaf.pem: OK");
      expect(result.code).toBe(0);
    }
  } finally {
    await dir.cleanup();
  }
}

/** The admin port's /metrics text. */
export async function metricsText(server: CaServer): Promise<string> {
  return (await fetch(`${server.adminUrl}/metrics`)).text();
}

/** The value of one sample line of /metrics, e.g. `mesh_ca_svid_requests_total{method="kubernetes",result="issued"}`. */
export async function metricValue(server: CaServer, series: string): Promise<number | undefined> {
  const line = (await metricsText(server)).split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

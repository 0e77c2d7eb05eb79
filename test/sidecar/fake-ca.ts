/**
 * A small, faithful double of mesh-ca's HTTP API (docs/ca.md, "HTTP
 * API") for sidecar tests: `POST /v1/svid`, `GET /v1/bundle` and
 * `GET /v1/bundle.json` over HTTPS, signing the caller's CSR with a TestCa intermediate. Bearer
 * tokens map to SPIFFE IDs; renewal authenticates with the caller's current
 * SVID as TLS client certificate (same ID only). Tests can stop and restart
 * it on the same port, make it fail, or make it return a bad SVID, and read
 * back every request it saw.
 */
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { KeyObject, type webcrypto } from "node:crypto";
import { parseDuration } from "../../lib/duration.js";
import { TrustBundle } from "../../lib/spiffe/bundle.js";
import { SpiffeId, TrustDomain } from "../../lib/spiffe/id.js";
import { newSerialNumberHex } from "../../lib/spiffe/svid.js";
import { x509 } from "../../lib/x509.js";
import { generateTestKeys, TestCa } from "../helpers/test-ca.js";

/** What the next answer to POST /v1/svid looks like. */
export type FakeCaMode =
  | "ok"
  /** HTTP 500 with the documented error body. */
  | "error"
  /** HTTP 429 with Retry-After: 0. */
  | "rate-limited"
  /** 200 with a body that is not JSON. */
  | "garbage"
  /** A good SVID for a key that is not the caller's. */
  | "wrong-key"
  /** A good SVID for another SPIFFE ID than the caller's. */
  | "wrong-id"
  /** A leaf with cA=true. */
  | "ca-leaf"
  /** Signed by a CA outside the bundle. */
  | "other-ca"
  /** Already expired. */
  | "expired";

/** One request the fake saw. */
export interface FakeCaRequest {
  readonly path: string;
  /** "bearer" (token), "svid" (client certificate) or "none". */
  readonly auth: "bearer" | "svid" | "none";
  readonly token?: string;
  readonly spiffeId?: string;
  readonly status: number;
  readonly ttl?: string;
}

/** Options of FakeCa.create. */
export interface FakeCaOptions {
  trustDomain?: string;
  /** Bearer token → SPIFFE ID. */
  tokens?: Record<string, string>;
  /** SVID lifetime when the request has no ttl; default 1h. */
  svidLifetimeMs?: number;
  /** Listen at once (default true). When false, a free port is reserved and start() binds it later. */
  start?: boolean;
  /** The server's key-exchange groups (Node's `ecdhCurve`), e.g. "ffdhe2048" for a server that only does finite-field DH; default Node's. */
  ecdhCurve?: string;
}

const BACKDATE_MS = 5_000;

/** The fake CA; create with FakeCa.create(). */
export class FakeCa {
  mode: FakeCaMode = "ok";
  /** Answers to use before falling back to `mode`, first first. */
  readonly queue: FakeCaMode[] = [];
  readonly requests: FakeCaRequest[] = [];
  readonly tokens: Map<string, string>;
  /** More roots published with ours in /v1/bundle and in answers (a root rotation). */
  readonly extraRoots: string[] = [];
  /** spiffe_sequence and spiffe_refresh_hint (seconds; none when undefined) of /v1/bundle.json. */
  bundleSequence = 1;
  refreshHintSeconds: number | undefined;
  svidLifetimeMs: number;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly ecdhCurve: string | undefined;

  private constructor(
    readonly root: TestCa,
    readonly issuer: TestCa,
    private readonly otherCa: TestCa,
    private readonly serving: { certPem: string; keyPem: string },
    public port: number,
    opts: FakeCaOptions,
  ) {
    this.tokens = new Map(Object.entries(opts.tokens ?? {}));
    this.svidLifetimeMs = opts.svidLifetimeMs ?? 3_600_000;
    this.ecdhCurve = opts.ecdhCurve;
  }

  static async create(opts: FakeCaOptions = {}): Promise<FakeCa> {
    const trustDomain = opts.trustDomain ?? "example.org";
    const root = await TestCa.create({ trustDomain });
    const issuer = await root.intermediate();
    const otherCa = await TestCa.create({ trustDomain });
    const serving = await servingCertificate(issuer, trustDomain);
    const fake = new FakeCa(root, issuer, otherCa, serving, 0, opts);
    await fake.start();
    if (opts.start === false) await fake.stop();
    return fake;
  }

  /** The trust bundle a sidecar bootstraps with (the root). */
  get bundlePem(): string {
    return this.root.bundlePem;
  }

  /** What /v1/bundle and answers carry: our root plus any extra roots. */
  get servedBundlePem(): string {
    return this.root.bundlePem + this.extraRoots.join("");
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Issues an SVID straight from the intermediate, for test clients and upstreams. */
  issue(id: string, opts: Parameters<TestCa["issue"]>[1] = {}): ReturnType<TestCa["issue"]> {
    return this.issuer.issue(id, opts);
  }

  /** Listens (again) on the same port. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer(
      {
        key: this.serving.keyPem,
        cert: this.serving.certPem,
        ca: this.root.bundlePem,
        requestCert: true,
        rejectUnauthorized: false,
        ...(this.ecdhCurve === undefined ? {} : { ecdhCurve: this.ecdhCurve }),
      },
      (req, res) => void this.handle(req, res),
    );
    server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and drops open connections: the CA is "down". */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests to POST /v1/svid only. */
  get svidRequests(): FakeCaRequest[] {
    return this.requests.filter((r) => r.path === "/v1/svid");
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (req.method === "GET" && path === "/v1/bundle") {
      this.requests.push({ path, auth: "none", status: 200 });
      res.writeHead(200, { "content-type": "application/x-pem-file" }).end(this.servedBundlePem);
      return;
    }
    if (req.method === "GET" && path === "/v1/bundle.json") {
      this.requests.push({ path, auth: "none", status: 200 });
      const metadata = { sequence: this.bundleSequence, ...(this.refreshHintSeconds === undefined ? {} : { refreshHintSeconds: this.refreshHintSeconds }) };
      const json = TrustBundle.fromPem(TrustDomain.parse(this.root.trustDomain), this.servedBundlePem).toSpiffeJson(metadata);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(json));
      return;
    }
    if (req.method !== "POST" || path !== "/v1/svid") {
      reply(res, 404, { error: { code: "NOT_FOUND", message: "no such endpoint" } });
      return;
    }
    const body = await readBody(req);
    const who = this.authenticate(req);
    const record = (status: number, extra: Partial<FakeCaRequest> = {}): void => {
      this.requests.push({ path, ...who, status, ...extra });
    };
    if (!who.spiffeId) {
      record(401);
      reply(res, 401, { error: { code: "UNAUTHENTICATED", message: "no valid credential" } });
      return;
    }
    let parsed: { csr?: unknown; ttl?: unknown };
    try {
      parsed = JSON.parse(body) as { csr?: unknown; ttl?: unknown };
    } catch {
      record(400);
      reply(res, 400, { error: { code: "INVALID_REQUEST", message: "body is not JSON" } });
      return;
    }
    const ttl = typeof parsed.ttl === "string" ? parsed.ttl : undefined;
    const mode = this.queue.shift() ?? this.mode;
    if (mode === "error") {
      record(500, { ...(ttl ? { ttl } : {}) });
      reply(res, 500, { error: { code: "INTERNAL", message: "the fake CA was told to fail" } });
      return;
    }
    if (mode === "rate-limited") {
      record(429);
      res.setHeader("retry-after", "0");
      reply(res, 429, { error: { code: "RATE_LIMITED", message: "slow down" } });
      return;
    }
    if (mode === "garbage") {
      record(200);
      res.writeHead(200, { "content-type": "application/json" }).end("{not json");
      return;
    }
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(String(parsed.csr));
      if (!(await csr.verify())) throw new Error("bad CSR signature");
    } catch (err) {
      record(400);
      reply(res, 400, { error: { code: "INVALID_CSR", message: (err as Error).message } });
      return;
    }
    const lifetime = ttl ? (parseDuration(ttl) ?? this.svidLifetimeMs) : this.svidLifetimeMs;
    const id = mode === "wrong-id" ? `spiffe://${this.root.trustDomain}/ns/evil/sa/impostor` : who.spiffeId;
    const publicKey = mode === "wrong-key" ? (await generateTestKeys()).publicKey : await csr.publicKey.export();
    const signer = mode === "other-ca" ? this.otherCa : this.issuer;
    const now = Date.now();
    const notBefore = mode === "expired" ? new Date(now - 2 * 3_600_000) : new Date(now - BACKDATE_MS);
    const notAfter = mode === "expired" ? new Date(now - 3_600_000) : new Date(now + lifetime);
    const leaf = await signLeaf(signer, publicKey, id, notBefore, notAfter, mode === "ca-leaf");
    const chain = [leaf, ...signer.intermediates].map((c) => c.toString("pem") + "\n").join("");
    record(200, { ...(ttl ? { ttl } : {}) });
    reply(res, 200, { spiffeId: id, certChain: chain, bundle: this.servedBundlePem, expiresAt: notAfter.toISOString() });
  }

  private authenticate(req: IncomingMessage): Pick<FakeCaRequest, "auth" | "token" | "spiffeId"> {
    const header = req.headers.authorization;
    if (header?.startsWith("Bearer ")) {
      const token = header.slice("Bearer ".length);
      const spiffeId = this.tokens.get(token);
      return { auth: "bearer", token, ...(spiffeId ? { spiffeId } : {}) };
    }
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerX509Certificate?.();
    if (peer) {
      // Renewal: a valid SVID from our chain, renewed for the same ID.
      const uri = peer.subjectAltName?.split(", ").find((n) => n.startsWith("URI:"))?.slice(4);
      const ok = socket.authorized && uri !== undefined && SpiffeId.tryParse(uri) !== undefined;
      return { auth: "svid", ...(ok ? { spiffeId: uri } : {}) };
    }
    return { auth: "none" };
  }
}

/** Signs a CSR's key into a good SVID for `id` and returns mesh-ca's answer body (for unit tests without HTTP). */
export async function answerFor(issuer: TestCa, csrPem: string, id: string, lifetimeMs: number, now = Date.now()): Promise<{ spiffeId: string; certChain: string; bundle: string; expiresAt: string }> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const notAfter = new Date(now + lifetimeMs);
  const leaf = await signLeaf(issuer, await csr.publicKey.export(), id, new Date(now - BACKDATE_MS), notAfter, false);
  const certChain = [leaf, ...issuer.intermediates].map((c) => c.toString("pem") + "\n").join("");
  return { spiffeId: id, certChain, bundle: issuer.bundlePem, expiresAt: notAfter.toISOString() };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function signLeaf(
  signer: TestCa,
  publicKey: webcrypto.CryptoKey,
  id: string,
  notBefore: Date,
  notAfter: Date,
  isCa: boolean,
): Promise<x509.X509Certificate> {
  const KU = x509.KeyUsageFlags;
  return x509.X509CertificateGenerator.create({
    serialNumber: newSerialNumberHex(),
    issuer: signer.cert.subjectName,
    notBefore,
    notAfter,
    publicKey,
    signingKey: signer.keys.privateKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [
      new x509.BasicConstraintsExtension(isCa, undefined, true),
      new x509.KeyUsagesExtension(KU.digitalSignature | (isCa ? KU.keyCertSign : 0), true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: id }], true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(signer.keys.publicKey),
    ],
  });
}

/** The fake's own HTTPS certificate: valid for 127.0.0.1 and localhost, like mesh-ca's. */
async function servingCertificate(issuer: TestCa, trustDomain: string): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateTestKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: newSerialNumberHex(),
    subject: "CN=fake mesh-ca",
    issuer: issuer.cert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + 24 * 3_600_000),
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
        { type: "url", value: `spiffe://${trustDomain}/mesh-ca` },
      ]),
    ],
  });
  const keyPem = KeyObject.from(keys.privateKey).export({ type: "pkcs8", format: "pem" }).toString();
  const chainPem = cert.toString("pem") + "\n" + issuer.intermediates.map((c) => c.toString("pem") + "\n").join("");
  return { certPem: chainPem, keyPem };
}

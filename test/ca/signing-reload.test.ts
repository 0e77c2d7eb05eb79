/**
 * `mesh-ca serve` follows its signing files while it runs, in process with
 * real TLS: a whole rotation (prepare → activate → retire) is taken without
 * a restart, the bundle endpoints carry spiffe_sequence and
 * spiffe_refresh_hint, the serving certificate is re-issued from the new
 * signer, a request in flight across a reload succeeds, and a renewal with
 * an SVID of the retired root is refused. Faults (a half-written key, a key
 * of another certificate, an empty bundle) are refused whole and counted;
 * the old set keeps serving and the next good write is taken. Two servers
 * on one directory agree; a Kubernetes-style ..data swap is seen.
 */
import { X509Certificate, generateKeyPairSync } from "node:crypto";
import { cp, mkdir, readFile, rename, symlink, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { activateRotation } from "../../ca/rotation/activate.js";
import { prepareRotation } from "../../ca/rotation/prepare.js";
import { retireRotation } from "../../ca/rotation/retire.js";
import { loadRotationSettings } from "../../ca/config.js";
import { generateJoinToken } from "../../ca/tokens/join-token.js";
import { updateTokenStore } from "../../ca/tokens/store.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { TestCa } from "../helpers/test-ca.js";
import { waitFor } from "../helpers/processes.js";
import { call, configFor, expectIssued, expectRefusal, initCaDir, makeCsr, metricValue, requestSvid, startTestServer, tempDir, type ApiAnswer, type SvidBody, type TestCaServer } from "./support.js";

const ID = "spiffe://example.org/vm/db";
const TIMINGS = "svid:\n  defaultTtl: 1m\n  maxTtl: 1m\n  backdate: 5s\nbundle:\n  refreshHint: 7s\n";
const settings = loadRotationSettings(`trustDomain: example.org\n${TIMINGS}`, "ca.yaml");

let dir: Awaited<ReturnType<typeof tempDir>>;
let token: string;
const servers: TestCaServer[] = [];

beforeEach(async () => {
  dir = await tempDir("ca-reload-");
  await initCaDir(dir.path);
  const made = generateJoinToken();
  token = made.token;
  await updateTokenStore(join(dir.path, "tokens.json"), (records) => {
    records.push({ id: made.id, hash: made.hash, spiffeId: SpiffeId.parse(ID), createdAt: new Date(), expiresAt: new Date(Date.now() + 600_000), usesLeft: 1000, revoked: false });
  });
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  await dir.cleanup();
});

async function start(path = dir.path): Promise<TestCaServer> {
  const config = configFor(path, `signing:\n  certFile: ca.crt\n  keyFile: ca.key\n  bundleFile: bundle.pem\n${TIMINGS}attestation:\n  joinTokens:\n    storeFile: ${join(dir.path, "tokens.json")}\n`);
  const s = await startTestServer(config, { signingReload: { pollIntervalMs: 200 } });
  servers.push(s);
  return s;
}

const reloads = (s: TestCaServer, result: "ok" | "error"): Promise<number | undefined> => metricValue(s.server, `mesh_ca_reloads_total{result="${result}"}`);

async function reloaded(s: TestCaServer, result: "ok" | "error", count: number): Promise<void> {
  await waitFor(`${count} reload(s) with result ${result}`, async () => (await reloads(s, result)) === count, { timeoutMs: 10_000, intervalMs: 50 });
}

async function bundleJson(s: TestCaServer): Promise<{ keys: { x5c: string[] }[]; spiffe_sequence: number; spiffe_refresh_hint: number }> {
  const answer = await call(s.server, { method: "GET", path: "/v1/bundle.json" });
  expect(answer.status).toBe(200);
  return answer.json as Awaited<ReturnType<typeof bundleJson>>;
}

const fingerprintOf = (b64: string): string => new X509Certificate(Buffer.from(b64, "base64")).fingerprint256;
const rootOf = async (name: string): Promise<X509Certificate> => new X509Certificate(await readFile(join(dir.path, name), "utf8"));

/** The certificate the API presents in a new TLS handshake. */
function servedCertificate(s: TestCaServer): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: s.server.apiAddress.port, ca: s.server.authority.bundle.pem, servername: "localhost" }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.destroy();
      if (peer) resolve(peer);
      else reject(new Error("no peer certificate"));
    });
    socket.on("error", reject);
  });
}

/** An SVID and its key, for renewal. */
async function svid(s: TestCaServer): Promise<{ body: SvidBody; keyPem: string }> {
  const csr = await makeCsr();
  const body = await expectIssued(await requestSvid(s.server, csr.csrPem, { bearer: token }), ID, s.server.authority.bundle.pem);
  return { body, keyPem: csr.keyPem };
}

/** A POST /v1/svid whose body is completed only once `release` resolves. */
function requestInFlight(s: TestCaServer, csrPem: string, release: Promise<void>): Promise<ApiAnswer> {
  const body = JSON.stringify({ csr: csrPem });
  return new Promise((resolve, reject) => {
    const req = request(
      new URL("/v1/svid", s.server.apiUrl),
      { method: "POST", ca: s.server.authority.bundle.pem, agent: false, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": String(body.length) } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: JSON.parse(text) as unknown }));
      },
    );
    req.on("error", reject);
    req.write(body.slice(0, 100));
    void release.then(() => req.end(body.slice(100)));
  });
}

describe("a rotation taken by a running mesh-ca", () => {
  it("prepare, activate and retire reach the bundle, the signer and the serving certificate without a restart", async () => {
    const s = await start();
    const oldRoot = await rootOf("ca.crt");
    let json = await bundleJson(s);
    expect({ keys: json.keys.length, sequence: json.spiffe_sequence, hint: json.spiffe_refresh_hint }).toEqual({ keys: 1, sequence: 1, hint: 7 });
    expect((await call(s.server, { method: "GET", path: "/v1/bundle" })).headers["cache-control"]).toBe("max-age=7");
    const old = await svid(s);

    const t0 = Date.now();
    await prepareRotation(dir.path, { settings, now: new Date(t0), validityMs: 24 * 3600_000 });
    await reloaded(s, "ok", 1);
    const newRoot = await rootOf("next.crt");
    json = await bundleJson(s);
    expect(json.keys.map((k) => fingerprintOf(k.x5c[0] as string))).toEqual([oldRoot.fingerprint256, newRoot.fingerprint256]);
    expect(json.spiffe_sequence).toBe(2);
    expect(await metricValue(s.server, "mesh_ca_trust_bundle_roots")).toBe(2);
    expect(await metricValue(s.server, "mesh_ca_trust_bundle_sequence")).toBe(2);
    expect(await metricValue(s.server, 'mesh_ca_rotation_state{state="prepared"}')).toBe(1);
    expect(await metricValue(s.server, 'mesh_ca_rotation_safe_timestamp_seconds{step="activate"}')).toBe((t0 + 14_000) / 1000);
    expect(s.server.authority.signingCert.fingerprint256).toBe(oldRoot.fingerprint256);

    // A request in flight while activate is taken.
    let release = (): void => undefined;
    const inFlight = requestInFlight(s, (await makeCsr()).csrPem, new Promise<void>((r) => (release = r)));
    await activateRotation(dir.path, { settings, now: new Date(t0 + 14_000) });
    await reloaded(s, "ok", 2);
    release();
    await expectIssued(await inFlight, ID, s.server.authority.bundle.pem);
    expect(s.server.authority.signingCert.fingerprint256).toBe(newRoot.fingerprint256);
    const served = await servedCertificate(s);
    expect(served.verify(newRoot.publicKey)).toBe(true);
    expect(served.checkIssued(newRoot)).toBe(true);
    const fresh = await svid(s);
    expect(new X509Certificate(fresh.body.certChain).verify(newRoot.publicKey)).toBe(true);
    // The old root is still in the bundle: an SVID it signed still renews.
    const renewed = await requestSvid(s.server, (await makeCsr()).csrPem, { clientCert: { keyPem: old.keyPem, certPem: old.body.certChain } });
    expect(renewed.status, renewed.text).toBe(200);
    expect((await bundleJson(s)).spiffe_sequence).toBe(2);

    await retireRotation(dir.path, { settings, now: new Date(t0 + 14_000 + 65_000) });
    await reloaded(s, "ok", 3);
    json = await bundleJson(s);
    expect({ roots: json.keys.map((k) => fingerprintOf(k.x5c[0] as string)), sequence: json.spiffe_sequence }).toEqual({ roots: [newRoot.fingerprint256], sequence: 3 });
    const refused = await requestSvid(s.server, (await makeCsr()).csrPem, { clientCert: { keyPem: old.keyPem, certPem: old.body.certChain } });
    expectRefusal(refused, 401, "UNAUTHENTICATED", /untrusted/);
    expect(await metricValue(s.server, 'mesh_ca_rotation_state{state="idle"}')).toBe(1);
    expect(await metricValue(s.server, 'mesh_ca_rotation_step_timestamp_seconds{step="retire"}')).toBe((t0 + 79_000) / 1000);
    expect(await metricValue(s.server, "mesh_ca_root_expiry_timestamp_seconds")).toBe(new Date(newRoot.validTo).getTime() / 1000);
    expect(await reloads(s, "error")).toBe(0);
    expect(s.logs.events("signing_reloaded")).toHaveLength(3);
  });

  it("two servers on one directory publish the same bundle and sequence", async () => {
    const [a, b] = [await start(), await start()];
    await prepareRotation(dir.path, { settings, now: new Date(), validityMs: 24 * 3600_000 });
    await Promise.all([reloaded(a, "ok", 1), reloaded(b, "ok", 1)]);
    const [ja, jb] = [await bundleJson(a), await bundleJson(b)];
    expect(ja).toEqual(jb);
    expect(ja.spiffe_sequence).toBe(2);
  });

  it("sees a Kubernetes Secret update (a new ..data generation swapped in)", async () => {
    // The mounted Secret: ..data → ..gen1, each file a symlink through ..data.
    const mount = join(dir.path, "mount");
    const work = join(dir.path, "work");
    await mkdir(mount);
    await mkdir(work);
    for (const f of ["ca.crt", "ca.key", "bundle.pem"]) await cp(join(dir.path, f), join(work, f));
    const publish = async (generation: string): Promise<void> => {
      await mkdir(join(mount, generation));
      for (const f of ["ca.crt", "ca.key", "bundle.pem", "rotation.json"]) {
        const text = await readFile(join(work, f), "utf8").catch(() => undefined);
        if (text !== undefined) await writeFile(join(mount, generation, f), text);
      }
      await symlink(generation, join(mount, "..data_tmp"));
      await rename(join(mount, "..data_tmp"), join(mount, "..data"));
    };
    await publish("..gen1");
    for (const f of ["ca.crt", "ca.key", "bundle.pem", "rotation.json"]) await symlink(`..data/${f}`, join(mount, f));
    const s = await start(mount);
    await prepareRotation(work, { settings, now: new Date(), validityMs: 24 * 3600_000 });
    await publish("..gen2");
    await reloaded(s, "ok", 1);
    expect((await bundleJson(s)).keys).toHaveLength(2);
    expect(await reloads(s, "error")).toBe(0);
  });
});

describe("plug-in mode", () => {
  it("a new intermediate under the same root: signing and the serving certificate move to it, the bundle and its sequence stay", async () => {
    const root = await TestCa.create({ trustDomain: "example.org" });
    const [first, second] = [await root.intermediate(), await root.intermediate()];
    await writeFile(join(dir.path, "ca.crt"), first.certPem);
    await writeFile(join(dir.path, "ca.key"), first.keyPem, { mode: 0o600 });
    await writeFile(join(dir.path, "bundle.pem"), root.certPem);
    const s = await start();
    const given = { certPem: second.certPem, keyPem: second.keyPem, certFile: "second.crt", keyFile: "second.key" };
    await prepareRotation(dir.path, { settings, now: new Date(), validityMs: 3600_000, intermediate: given });
    await reloaded(s, "ok", 1);
    await activateRotation(dir.path, { settings, now: new Date() });
    await reloaded(s, "ok", 2);
    expect(s.server.servingCertificatePem()).toContain(second.certPem.trim());
    const { body } = await svid(s);
    expect(body.certChain).toContain(second.certPem.trim());
    expect(body.bundle).toBe(root.certPem);
    expect((await bundleJson(s)).spiffe_sequence).toBe(1);
    await retireRotation(dir.path, { settings, now: new Date() });
    await reloaded(s, "ok", 3);
    expect((await bundleJson(s)).keys).toHaveLength(1);
  });
});

describe("faults in the signing files", () => {
  it("refuses a half-written key, a key of another certificate and an empty bundle; the old set serves; the next good write is taken", async () => {
    const s = await start();
    const root = await rootOf("ca.crt");
    const key = await readFile(join(dir.path, "ca.key"), "utf8");
    const bundle = await readFile(join(dir.path, "bundle.pem"), "utf8");
    const stillServes = async (): Promise<void> => {
      const { body } = await svid(s);
      expect(new X509Certificate(body.certChain).verify(root.publicKey)).toBe(true);
      expect((await bundleJson(s)).keys).toHaveLength(1);
    };
    const faults: [string, string, string, RegExp][] = [
      ["a half-written key", "ca.key", key.slice(0, key.length / 2), /ca\.key: not a PEM private key/],
      ["a key of another certificate", "ca.key", generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString(), /ca\.key is not the private key of .*ca\.crt/],
      ["an empty bundle", "bundle.pem", "", /bundle\.pem: trust bundle for example\.org is empty/],
    ];
    let errors = 0;
    for (const [what, file, text, message] of faults) {
      await writeFile(join(dir.path, file), text);
      await reloaded(s, "error", ++errors);
      const line = s.logs.events("signing_reload_refused").at(-1);
      expect(String(line?.err), what).toMatch(message);
      expect(JSON.stringify(line)).not.toContain(key.split("\n")[1]);
      await stillServes();
      await writeFile(join(dir.path, file), file === "ca.key" ? key : bundle);
      await reloaded(s, "ok", errors);
    }
    // The next good write: a second root added by hand.
    const extra = await TestCa.create({ trustDomain: "example.org" });
    await writeFile(join(dir.path, "bundle.pem"), bundle + extra.certPem);
    await reloaded(s, "ok", errors + 1);
    expect((await bundleJson(s)).keys).toHaveLength(2);
    expect(await metricValue(s.server, "mesh_ca_trust_bundle_roots")).toBe(2);
  });

  it("refuses a damaged rotation.json with the rest of the set", async () => {
    const s = await start();
    await writeFile(join(dir.path, "rotation.json"), '{"version": 1, "state": "half"}');
    await reloaded(s, "error", 1);
    expect(String(s.logs.events("signing_reload_refused").at(-1)?.err)).toMatch(/rotation\.json: /);
    expect((await bundleJson(s)).spiffe_sequence).toBe(1);
  });
});

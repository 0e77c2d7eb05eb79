/**
 * TLS session resumption (tls.sessionResumption, on by default): repeat
 * connections between sidecars resume; a resumed peer is judged again
 * against the policy in force; a credential change on either side ends
 * resumption (the next connection is a full handshake with full
 * verification); turned off, nothing resumes.
 */
import { writeFile } from "node:fs/promises";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCa } from "../helpers/test-ca.js";
import { FakeCa } from "./fake-ca.js";
import { Backend, type ClientIdentity, DEFAULT_POLICY, ID, logsWith, metricValue, plainExchange, startTestSidecar, TD, type TestSidecar, waitFor } from "./harness.js";

const RESUMED = "mesh_sidecar_tls_sessions_resumed_total";
const HANDSHAKES = "mesh_sidecar_tls_handshakes_total";

let ca: FakeCa;
let app: Backend;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ca = await FakeCa.create();
  ca.tokens.set("token-frontend", ID.frontend);
  app = await Backend.start();
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await app?.close();
  await ca?.stop();
});

async function sidecar(o: Omit<Parameters<typeof startTestSidecar>[0], "ca">): Promise<TestSidecar> {
  const sc = await startTestSidecar({ ca, ...o });
  stops.push(() => sc.stop());
  await waitFor("the SVID", () => sc.sidecar.readiness().ready);
  return sc;
}

const inboundOf = (o: { bundleRefresh?: string; sessionResumption?: boolean } = {}): Promise<TestSidecar> =>
  sidecar({ inbound: [{ name: "http", forward: app.address }], ...o });

const outboundTo = (upstream: TestSidecar, o: { bundleRefresh?: string; sessionResumption?: boolean } = {}): Promise<TestSidecar> =>
  sidecar({ token: "token-frontend", outbound: [{ name: "orders", upstream: `127.0.0.1:${upstream.port("http")}`, expectedPeer: ID.self }], ...o });

const count = (sc: TestSidecar, name: string, labels: Record<string, string>): Promise<number> => metricValue(sc.sidecar.registry, name, labels);
const resumedIn = (sc: TestSidecar): Promise<number> => count(sc, RESUMED, { listener: "http", direction: "inbound" });
const resumedOut = (sc: TestSidecar): Promise<number> => count(sc, RESUMED, { listener: "orders", direction: "outbound" });
const okIn = (sc: TestSidecar): Promise<number> => count(sc, HANDSHAKES, { listener: "http", direction: "inbound", result: "ok" });

/** One echo through an outbound listener; resolves with what came back. */
async function echoThrough(a: TestSidecar, text: string): Promise<string> {
  return (await plainExchange(a.port("orders"), text)).received;
}

/** One mTLS echo straight to an inbound listener, offering `session` when given. */
function directEcho(port: number, identity: ClientIdentity, text: string, session?: Buffer): Promise<{ received: string; reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve) => {
    const out = { received: "", reused: false, session: undefined as Buffer | undefined };
    const s = tlsConnect({ host: "127.0.0.1", port, ca: ca.bundlePem, cert: identity.chainPem, key: identity.keyPem, checkServerIdentity: () => undefined, ...(session ? { session } : {}) });
    s.on("session", (t: Buffer) => (out.session = t));
    s.on("secureConnect", () => {
      out.reused = s.isSessionReused();
      s.end(text);
    });
    s.on("data", (d: Buffer) => (out.received += d.toString()));
    s.on("error", () => undefined);
    s.on("close", () => resolve(out));
  });
}

describe("between two sidecars", () => {
  let b: TestSidecar;
  let a: TestSidecar;

  beforeAll(async () => {
    b = await inboundOf();
    a = await outboundTo(b);
  });

  it("resumes every connection after the first, on both sides, and proxies every byte", async () => {
    const before = { out: await resumedOut(a), in: await resumedIn(b), ok: await okIn(b), app: app.connections };
    for (let i = 0; i < 6; i++) expect(await echoThrough(a, `hello ${i}`)).toBe(`hello ${i}`);
    expect(await okIn(b)).toBe(before.ok + 6);
    expect(app.connections).toBe(before.app + 6);
    // The first connection made the full handshake that yielded the ticket.
    expect(await resumedOut(a)).toBe(before.out + 5);
    expect(await resumedIn(b)).toBe(before.in + 5);
  });

  it("judges a resuming peer against the policy in force: a denied one gets nothing to the app", async () => {
    expect(await echoThrough(a, "warm")).toBe("warm");
    const appBefore = app.connections;
    await writeFilePolicy(b, `version: 1\nlisteners:\n  http:\n    allow:\n      - ${ID.opsTool}\n`);
    expect(await echoThrough(a, "after the edit")).toBe("");
    expect(app.connections).toBe(appBefore);
    const refusal = logsWith(b.logs, "refused connection").at(-1);
    expect(refusal).toMatchObject({ result: "wrong_peer", resumed: true, peer: ID.frontend, rule: "default" });
    // Allowed again, it resumes again: refusing on the inbound side does not spoil the session.
    const resumedBefore = await resumedIn(b);
    await writeFilePolicy(b, DEFAULT_POLICY);
    expect(await echoThrough(a, "allowed again")).toBe("allowed again");
    expect(await resumedIn(b)).toBe(resumedBefore + 1);
  });
});

describe("a credential change ends resumption", () => {
  it("on the inbound side: a ticket from before a bundle change makes a full handshake", async () => {
    const b = await inboundOf({ bundleRefresh: "1s" });
    const client = await ca.issue(ID.frontend);
    const first = await directEcho(b.port("http"), client, "one");
    expect(first).toMatchObject({ received: "one", reused: false });
    expect(first.session).toBeDefined();
    expect(await directEcho(b.port("http"), client, "two", first.session)).toMatchObject({ received: "two", reused: true });
    await addRootAndWaitForAdoption(b);
    const after = await directEcho(b.port("http"), client, "three", first.session);
    expect(after).toMatchObject({ received: "three", reused: false });
  });

  it("on the outbound side: the kept session is dropped with the credentials it was made with", async () => {
    const b = await inboundOf();
    const a = await outboundTo(b, { bundleRefresh: "1s" });
    expect(await echoThrough(a, "one")).toBe("one");
    expect(await echoThrough(a, "two")).toBe("two");
    expect(await resumedOut(a)).toBe(1);
    await addRootAndWaitForAdoption(a);
    // b's ticket keys did not change, so a resumption here could only come from an offered old session.
    expect(await echoThrough(a, "three")).toBe("three");
    expect(await resumedOut(a)).toBe(1);
    expect(await resumedIn(b)).toBe(1);
  });
});

describe("with tls.sessionResumption: false", () => {
  it("neither offers nor accepts a session", async () => {
    const b = await inboundOf({ sessionResumption: false });
    const a = await outboundTo(b, { sessionResumption: false });
    for (const text of ["one", "two", "three"]) expect(await echoThrough(a, text)).toBe(text);
    expect(await resumedOut(a)).toBe(0);
    expect(await resumedIn(b)).toBe(0);
    // A client that offers what it was given does not resume either (a stateful ticket, and no session cache).
    const client = await ca.issue(ID.frontend);
    const first = await directEcho(b.port("http"), client, "x");
    const second = await directEcho(b.port("http"), client, "y", first.session);
    expect(second).toMatchObject({ received: "y", reused: false });
  });
});

/** Writes the policy file and waits until `sc` has loaded it. */
async function writeFilePolicy(sc: TestSidecar, text: string): Promise<void> {
  const reloads = (): Promise<number> => count(sc, "mesh_sidecar_policy_reloads_total", { result: "ok" });
  const before = await reloads();
  await writeFile(sc.policyPath, text);
  await waitFor("the policy reload", async () => (await reloads()) > before, 5_000);
}

/** Publishes one more root and waits until `sc` has adopted the changed bundle. */
async function addRootAndWaitForAdoption(sc: TestSidecar): Promise<void> {
  const changes = logsWith(sc.logs, "trust bundle changed").length;
  ca.extraRoots.push((await TestCa.create({ trustDomain: TD })).bundlePem);
  await waitFor("the bundle change", () => logsWith(sc.logs, "trust bundle changed").length > changes, 5_000);
}

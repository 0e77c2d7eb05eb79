import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log.js";
import { TrustBundle } from "../../lib/spiffe/bundle.js";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { TestCa } from "../../test/helpers/test-ca.js";
import { answerFor } from "../../test/sidecar/fake-ca.js";
import type { CaClient, CaCredential, SvidAnswer } from "./ca-client.js";
import type { Clock, TimerHandle } from "../../lib/clock.js";
import { CredentialStore } from "./credential-store.js";
import { SidecarError, SidecarErrorCode } from "../errors.js";
import { SidecarMetrics } from "../metrics.js";
import { nextRenewal, Renewer } from "./renewer.js";
import { WorkloadKey } from "./workload-key.js";
import { DEFAULT_GROUPS } from "../../lib/tls/groups.js";

const TD = TrustDomain.parse("example.org");
const ID = "spiffe://example.org/ns/shop/sa/orders";

/** A clock whose timers fire only when the test advances it. */
class ManualClock implements Clock {
  private timers: { at: number; fn: () => void; handle: object }[] = [];
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = {};
    this.timers.push({ at: this.t + Math.max(0, ms), fn, handle });
    return handle;
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.handle !== handle);
  }
  /** Delays (from now) of the pending timers, soonest first. */
  pending(): number[] {
    return this.timers.map((t) => t.at - this.t).sort((a, b) => a - b);
  }
  /** Moves to the next timer and runs it. */
  fireNext(): void {
    this.timers.sort((a, b) => a.at - b.at);
    const next = this.timers.shift();
    if (!next) throw new Error("no timer pending");
    this.t = Math.max(this.t, next.at);
    next.fn();
  }
}

type Answer = (csr: string) => Promise<SvidAnswer>;

/** Stands in for CaClient: records credentials, answers from a script. */
class ScriptedCa {
  readonly credentials: CaCredential[] = [];
  readonly script: Answer[] = [];
  constructor(private readonly fallback: Answer) {}
  async requestSvid(csr: string, credential: CaCredential): Promise<SvidAnswer> {
    this.credentials.push(credential);
    return (this.script.shift() ?? this.fallback)(csr);
  }
  /** spiffe_refresh_hint of the bundle answers (seconds), and how many were asked for. */
  refreshHintSeconds: number | undefined;
  bundleFetches = 0;
  async fetchBundleJson(): Promise<string> {
    this.bundleFetches++;
    const metadata = { sequence: 2, ...(this.refreshHintSeconds === undefined ? {} : { refreshHintSeconds: this.refreshHintSeconds }) };
    return JSON.stringify(TrustBundle.fromPem(TD, ca.bundlePem).toSpiffeJson(metadata));
  }
}

let dir: string;
let ca: TestCa;
let key: WorkloadKey;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "renewer-"));
  ca = await TestCa.create({ trustDomain: "example.org" });
  key = await WorkloadKey.generate();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(lifetimeMs = 60_000) {
  const clock = new ManualClock(Date.now());
  const tokenFile = join(dir, `token-${Math.random()}`);
  await writeFile(tokenFile, "first-token\n");
  const client = new ScriptedCa((csr) => answerFor(ca, csr, ID, lifetimeMs, clock.now()));
  const metrics = new SidecarMetrics(new Registry());
  const store = new CredentialStore(TrustBundle.fromPem(TD, ca.bundlePem), { minVersion: "TLSv1.3", sessionResumption: true, groups: DEFAULT_GROUPS });
  const lines: string[] = [];
  const log = createLogger({ name: "t", level: "debug", format: "json", destination: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }) });
  const renewer = new Renewer({
    config: {
      trustDomain: TD,
      ca: { url: new URL("https://ca"), bundleFile: "b", tokenFile, bundleRefreshMs: 3_600_000 },
      renewal: { fraction: 0.5, jitter: 0.1, backoffBaseMs: 1_000, backoffCapMs: 8_000 },
    },
    client: client as unknown as CaClient,
    store,
    key,
    metrics,
    log,
    clock,
    random: () => 0.5,
  });
  const count = async (result: string): Promise<number> =>
    (await metrics.svidRenewals.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  return { clock, client, store, renewer, tokenFile, count, lines, metrics };
}

describe("Renewer", () => {
  it("gets the first SVID with the token, then renews halfway with the SVID as client certificate", async () => {
    const { clock, client, store, renewer, tokenFile, count } = await setup(60_000);
    renewer.start();
    clock.fireNext(); // the immediate first attempt
    await renewer.renewNow();
    expect(client.credentials[0]).toEqual({ kind: "bearer", token: "first-token" });
    expect(store.current?.svid.id.toString()).toBe(ID);
    // random 0.5 → no jitter: renewal at 50% of the 60 s lifetime (notAfter has whole seconds, so up to 0.5 s earlier).
    expect(clock.pending()[0]).toBeGreaterThan(29_500);
    expect(clock.pending()[0]).toBeLessThanOrEqual(30_000);
    await writeFile(tokenFile, "rotated\n");
    const first = store.current?.svid.leaf.fingerprint256;
    clock.fireNext();
    await renewer.renewNow();
    expect(client.credentials[1]?.kind).toBe("svid");
    expect(store.current?.svid.leaf.fingerprint256).not.toBe(first);
    expect(await count("ok")).toBe(2);
    renewer.stop();
  });

  it("retries failures with capped exponential backoff and keeps the current SVID", async () => {
    const { clock, client, store, renewer, count } = await setup(600_000);
    renewer.start();
    clock.fireNext();
    await renewer.renewNow();
    const served = store.current?.svid;
    const fail: Answer = () => Promise.reject(new SidecarError(SidecarErrorCode.CA_UNREACHABLE, "down"));
    client.script.push(fail, fail, fail, fail, fail);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      clock.fireNext();
      await renewer.renewNow();
      delays.push(clock.pending()[0] as number);
      expect(store.current?.svid).toBe(served);
    }
    // Full jitter with random 0.5: half of min(cap, base·2^n).
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 4_000]);
    expect(await count("error")).toBe(5);
    clock.fireNext();
    await renewer.renewNow();
    expect(store.current?.svid).not.toBe(served);
    renewer.stop();
  });

  it("tells when the next request is due and how many failed in a row", async () => {
    const { clock, client, renewer } = await setup(60_000);
    renewer.start();
    expect(renewer.nextAttemptAt?.getTime()).toBe(clock.now());
    const fail: Answer = () => Promise.reject(new SidecarError(SidecarErrorCode.CA_UNREACHABLE, "down"));
    client.script.push(fail, fail);
    for (const expectedFailures of [1, 2]) {
      clock.fireNext();
      expect(renewer.nextAttemptAt).toBeUndefined(); // in flight
      await renewer.renewNow();
      expect(renewer.failedAttempts).toBe(expectedFailures);
      expect(renewer.nextAttemptAt?.getTime()).toBe(clock.now() + (clock.pending()[0] as number));
    }
    clock.fireNext();
    await renewer.renewNow();
    expect(renewer.failedAttempts).toBe(0);
    // The renewal halfway through the 60 s lifetime is what comes next.
    expect((renewer.nextAttemptAt?.getTime() as number) - clock.now()).toBeGreaterThan(29_000);
    renewer.stop();
    expect(renewer.nextAttemptAt).toBeUndefined();
  });

  it("waits at least the CA's Retry-After", async () => {
    const { clock, client, renewer } = await setup();
    client.script.push(() => Promise.reject(new SidecarError(SidecarErrorCode.CA_REFUSED, "429", { status: 429, retryAfterMs: 20_000 })));
    renewer.start();
    clock.fireNext();
    await renewer.renewNow();
    expect(clock.pending()[0]).toBe(20_000);
    renewer.stop();
  });

  it("refuses an SVID for another ID than the current one, counting it invalid", async () => {
    const { clock, client, store, renewer, count } = await setup();
    renewer.start();
    clock.fireNext();
    await renewer.renewNow();
    client.script.push((csr) => answerFor(ca, csr, "spiffe://example.org/ns/evil/sa/x", 60_000, clock.now()));
    clock.fireNext();
    await renewer.renewNow();
    expect(await count("invalid")).toBe(1);
    expect(store.current?.svid.id.toString()).toBe(ID);
    renewer.stop();
  });

  it("uses the bootstrap token again once the SVID has expired, re-reading the file", async () => {
    const { clock, client, store, renewer, tokenFile } = await setup(10_000);
    renewer.start();
    clock.fireNext();
    await renewer.renewNow();
    const fail: Answer = () => Promise.reject(new SidecarError(SidecarErrorCode.CA_UNREACHABLE, "down"));
    client.script.push(...Array.from({ length: 20 }, () => fail));
    await writeFile(tokenFile, "second-token\n");
    while ((store.current?.svid.notAfter.getTime() ?? 0) > clock.now()) {
      clock.fireNext();
      await renewer.renewNow();
    }
    client.script.length = 0;
    clock.fireNext();
    await renewer.renewNow();
    expect(client.credentials.at(-1)).toEqual({ kind: "bearer", token: "second-token" });
    expect(store.current?.svid.notAfter.getTime()).toBeGreaterThan(clock.now());
    renewer.stop();
  });

  it("fetches the bundle after the first SVID, then refreshes at the CA's hint, never later than ca.bundleRefresh", async () => {
    const { clock, client, renewer, metrics } = await setup(600_000);
    client.refreshHintSeconds = 30;
    renewer.start();
    clock.fireNext();
    await renewer.renewNow();
    await new Promise((r) => setImmediate(r));
    expect(client.bundleFetches).toBe(1);
    expect((await metrics.bundleSequence.get()).values[0]?.value).toBe(2);
    // random 0.5 → 5% under the hint; the renewal (at 300 s) comes later.
    expect(clock.pending()[0]).toBe(28_500);
    clock.fireNext();
    await new Promise((r) => setImmediate(r));
    expect(client.bundleFetches).toBe(2);
    // A hint longer than ca.bundleRefresh (1h here) is bounded by it.
    client.refreshHintSeconds = 86_400;
    clock.fireNext();
    await new Promise((r) => setImmediate(r));
    expect(clock.pending()).toContain(3_420_000);
    renewer.stop();
  });

  it("installs nothing after stop()", async () => {
    const { clock, store, renewer } = await setup();
    renewer.start();
    clock.fireNext();
    const inFlight = renewer.renewNow();
    renewer.stop();
    await inFlight;
    expect(store.current).toBeUndefined();
    expect(clock.pending()).toEqual([]);
  });

  it("never logs the token", async () => {
    const { clock, renewer, lines } = await setup();
    renewer.start();
    clock.fireNext();
    await renewer.renewNow();
    renewer.stop();
    expect(lines.join("")).not.toContain("first-token");
    expect(lines.join("")).toContain("obtained the first SVID");
  });
});

describe("nextRenewal", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");
  const half = () => 0.5;

  it("renews halfway through the lifetime left from receipt (a 30 s backdate does not count)", () => {
    const svid = { notBefore: new Date(now - 30_000), notAfter: new Date(now + 3_600_000) };
    expect(nextRenewal(svid, now, { fraction: 0.5, jitter: 0.1 }, half).getTime()).toBe(now + 1_800_000);
  });

  it("does not renew at once when the backdate is longer than a short ttl", () => {
    const svid = { notBefore: new Date(now - 30_000), notAfter: new Date(now + 4_000) };
    expect(nextRenewal(svid, now, { fraction: 0.5, jitter: 0.1 }, half).getTime()).toBe(now + 2_000);
  });

  it("spreads renewals by ± jitter", () => {
    const svid = { notBefore: new Date(now), notAfter: new Date(now + 100_000) };
    expect(nextRenewal(svid, now, { fraction: 0.5, jitter: 0.1 }, () => 0).getTime()).toBe(now + 40_000);
    expect(nextRenewal(svid, now, { fraction: 0.5, jitter: 0.1 }, () => 0.999_999).getTime()).toBeCloseTo(now + 60_000, -1);
  });

  it("waits a moment even for an SVID that is nearly expired on arrival", () => {
    const svid = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 1_000) };
    expect(nextRenewal(svid, now, { fraction: 0.5, jitter: 0.1 }, () => 0).getTime()).toBeGreaterThan(now);
  });
});

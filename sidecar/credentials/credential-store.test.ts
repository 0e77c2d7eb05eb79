import { constants } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { TrustBundle } from "../../lib/spiffe/bundle.js";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { TestCa } from "../../test/helpers/test-ca.js";
import { answerFor } from "../../test/sidecar/fake-ca.js";
import { type ActiveCredentials, CredentialStore } from "./credential-store.js";
import { type Svid, validateSvidAnswer } from "./svid-answer.js";
import { SESSION_LIFETIME_S } from "../listeners/tls-options.js";
import { WorkloadKey } from "./workload-key.js";
import { DEFAULT_GROUPS } from "../../lib/tls/groups.js";

const TD = TrustDomain.parse("example.org");
let ca: TestCa;
let svid: Svid;
let bundle: TrustBundle;

beforeAll(async () => {
  ca = await TestCa.create({ trustDomain: "example.org" });
  const key = await WorkloadKey.generate();
  const answer = await answerFor(ca, await key.csrPem(), "spiffe://example.org/ns/a/sa/b", 60_000);
  ({ svid, bundle } = validateSvidAnswer(answer, { key, trustDomain: TD, now: new Date() }));
});

describe("CredentialStore", () => {
  it("has no credentials before the first SVID, then builds the TLS material once per change", () => {
    const store = new CredentialStore(bundle, { minVersion: "TLSv1.3", sessionResumption: true, groups: DEFAULT_GROUPS });
    const seen: ActiveCredentials[] = [];
    store.subscribe((a) => seen.push(a));
    expect(store.current).toBeUndefined();
    store.install(svid, bundle);
    expect(seen).toHaveLength(1);
    expect(store.current).toBe(seen[0]);
    expect(Object.isFrozen(store.current)).toBe(true);
    const options = store.current?.serverOptions;
    expect(options).toMatchObject({ minVersion: "TLSv1.3", cert: svid.certChainPem, ca: bundle.pem });
    // Stateless tickets for resumption, with the lifetime the outbound side assumes.
    expect((options?.secureOptions ?? 0) & constants.SSL_OP_NO_TICKET).toBe(0);
    expect(options?.sessionTimeout).toBe(SESSION_LIFETIME_S);
    expect(options?.ciphers).not.toMatch(/CBC|-SHA:|-SHA$/);
  });

  it("asks for stateful (never resumed) tickets without tls.sessionResumption", () => {
    const store = new CredentialStore(bundle, { minVersion: "TLSv1.3", sessionResumption: false, groups: DEFAULT_GROUPS });
    store.install(svid, bundle);
    expect((store.current?.serverOptions.secureOptions ?? 0) & constants.SSL_OP_NO_TICKET).toBe(constants.SSL_OP_NO_TICKET);
  });

  it("calls a late subscriber at once with the current credentials", () => {
    const store = new CredentialStore(bundle, { minVersion: "TLSv1.3", sessionResumption: true, groups: DEFAULT_GROUPS });
    store.install(svid, bundle);
    const seen: ActiveCredentials[] = [];
    store.subscribe((a) => seen.push(a));
    expect(seen).toEqual([store.current]);
  });

  it("rebuilds only when a refreshed bundle has different roots", async () => {
    const store = new CredentialStore(bundle, { minVersion: "TLSv1.3", sessionResumption: true, groups: DEFAULT_GROUPS });
    store.install(svid, bundle);
    const seen: ActiveCredentials[] = [];
    store.subscribe((a) => seen.push(a));
    expect(store.updateBundle(TrustBundle.fromPem(TD, ca.bundlePem))).toBe(false);
    const other = await TestCa.create({ trustDomain: "example.org" });
    const wider = TrustBundle.fromPem(TD, ca.bundlePem + other.bundlePem);
    expect(store.updateBundle(wider)).toBe(true);
    expect(seen).toHaveLength(2);
    expect(store.current?.svid).toBe(svid);
    expect(store.current?.bundle).toBe(wider);
  });

  it("keeps a refreshed bundle for later when there is no SVID yet", async () => {
    const store = new CredentialStore(bundle, { minVersion: "TLSv1.3", sessionResumption: true, groups: DEFAULT_GROUPS });
    const other = await TestCa.create({ trustDomain: "example.org" });
    expect(store.updateBundle(TrustBundle.fromPem(TD, other.bundlePem))).toBe(true);
    expect(store.current).toBeUndefined();
    expect(store.bundle.pem).toBe(other.bundlePem);
  });
});

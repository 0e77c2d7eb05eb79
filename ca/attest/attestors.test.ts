/**
 * How a credential finds its attestor: the Authorization header before the
 * client certificate, join tokens by their prefix, every other bearer token
 * as a Kubernetes token, and a method the config leaves off still taking its
 * credentials (and refusing them) instead of passing them to another one.
 */
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../lib/clock.js";
import { createLogger, secretHash } from "../../lib/log.js";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { tempDir } from "../../test/ca/support.js";
import { loadCaConfig } from "../config.js";
import { ApiError } from "../errors.js";
import { ISSUANCE_METHODS } from "../metrics.js";
import { generateJoinToken } from "../tokens/join-token.js";
import { createEmptyTokenStore } from "../tokens/store.js";
import { presentedCredential, type Attestor, type PresentedCredential } from "./attestor.js";
import { attestorFor, createAttestors } from "./attestors.js";
import { DEFAULT_GROUPS } from "../../lib/tls/groups.js";

const td = TrustDomain.parse("example.org");
const logger = createLogger({ name: "test", format: "json", destination: new Writable({ write: (_c, _e, done) => done() }) });
const KUBERNETES = "kubernetes:\n    mode: tokenReview\n    tokenReview:\n      apiServer: https://127.0.0.1:1\n";
const JOIN_TOKENS = "joinTokens:\n    storeFile: tokens.json\n";
const joinToken = generateJoinToken().token;
const serviceAccountToken = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln";
let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  dir = await tempDir("ca-attestors-");
  await createEmptyTokenStore(join(dir.path, "tokens.json"));
});
afterAll(async () => {
  await dir?.cleanup();
});

async function attestorsFor(...blocks: string[]): Promise<readonly Attestor[]> {
  const config = loadCaConfig(`trustDomain: example.org\nattestation:\n  ${blocks.join("  ")}`, join(dir.path, "ca.yaml"), {});
  return createAttestors(config.attestation, { trustDomain: td, logger, cacheClock: systemClock, tlsGroups: DEFAULT_GROUPS });
}

/** A TLS socket whose peer sent a certificate with this serial. */
function socketWithCertificate(serialNumber: string): TLSSocket {
  return { getPeerX509Certificate: () => ({ serialNumber }), authorized: false, authorizationError: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" } as unknown as TLSSocket;
}

function request(authorization: string | undefined, socket: Partial<TLSSocket> = { getPeerX509Certificate: () => undefined }): IncomingMessage {
  return { headers: authorization === undefined ? {} : { authorization }, socket } as unknown as IncomingMessage;
}

async function refusalReason(attestors: readonly Attestor[], credential: PresentedCredential): Promise<string | undefined> {
  try {
    await attestorFor(attestors, credential)?.accepted.attest(new Date());
  } catch (err) {
    if (err instanceof ApiError) return err.reason;
    throw err;
  }
  return undefined;
}

describe("presentedCredential", () => {
  it("reads the bearer token first, even when a client certificate was sent too", () => {
    expect(presentedCredential(request(`Bearer ${joinToken}`, socketWithCertificate("0A")))).toEqual({ kind: "bearer", token: joinToken });
    expect(presentedCredential(request(undefined, socketWithCertificate("0A"))).kind).toBe("client_certificate");
  });

  it("refuses a malformed Authorization header and a request with no credential", () => {
    const reason = (req: IncomingMessage): string | undefined => {
      try {
        presentedCredential(req);
      } catch (err) {
        if (err instanceof ApiError) return `${err.status} ${err.reason ?? ""}`;
        throw err;
      }
      return undefined;
    };
    expect(reason(request("Basic dXNlcjpwYXNz", socketWithCertificate("0A")))).toBe("401 bad_authorization_header");
    expect(reason(request(undefined))).toBe("401 no_credential");
  });
});

describe("createAttestors and attestorFor", () => {
  const credentials: PresentedCredential[] = [
    { kind: "bearer", token: joinToken },
    { kind: "bearer", token: "meshjt_short" },
    { kind: "bearer", token: serviceAccountToken },
    { kind: "client_certificate", socket: socketWithCertificate("0A1B") },
  ];

  it("give every credential to exactly one attestor, whatever the config enables", async () => {
    for (const blocks of [[KUBERNETES], [JOIN_TOKENS], [KUBERNETES, JOIN_TOKENS]]) {
      const attestors = await attestorsFor(...blocks);
      expect(attestors.map((a) => a.method)).toEqual(["kubernetes", "join_token", "renewal"]);
      expect([...attestors.map((a) => a.method)].sort()).toEqual([...ISSUANCE_METHODS].sort());
      for (const credential of credentials) expect(attestors.filter((a) => a.accept(credential)).length).toBe(1);
    }
  });

  it("route join tokens by their prefix and other bearer tokens to Kubernetes, with the log's fingerprints", async () => {
    const attestors = await attestorsFor(KUBERNETES, JOIN_TOKENS);
    const routed = credentials.map((c) => {
      const found = attestorFor(attestors, c);
      return { method: found?.attestor.method, fingerprint: found?.accepted.fingerprint };
    });
    expect(routed).toEqual([
      { method: "join_token", fingerprint: { joinTokenId: secretHash(joinToken) } },
      { method: "join_token", fingerprint: { joinTokenId: secretHash("meshjt_short") } },
      { method: "kubernetes", fingerprint: { tokenHash: secretHash(serviceAccountToken) } },
      { method: "renewal", fingerprint: { presentedSerial: "0a1b" } },
    ]);
  });

  it("refuse the credentials of a method the config leaves off, never passing them to another", async () => {
    const kubernetesOnly = await attestorsFor(KUBERNETES);
    expect(await refusalReason(kubernetesOnly, { kind: "bearer", token: joinToken })).toBe("join_tokens_disabled");
    const joinTokensOnly = await attestorsFor(JOIN_TOKENS);
    expect(await refusalReason(joinTokensOnly, { kind: "bearer", token: serviceAccountToken })).toBe("kubernetes_disabled");
    expect(await refusalReason(joinTokensOnly, { kind: "bearer", token: joinToken })).toBe("join_token_unknown");
    expect(await refusalReason(joinTokensOnly, { kind: "client_certificate", socket: socketWithCertificate("0A") })).toBe("renewal_untrusted");
  });

  it("sum up what is on for the startup log", async () => {
    const summary = (attestors: readonly Attestor[]): Record<string, string> => Object.assign({}, ...attestors.map((a) => a.summary));
    expect(summary(await attestorsFor(KUBERNETES))).toEqual({ kubernetes: "tokenReview", joinTokens: "off" });
    expect(summary(await attestorsFor(JOIN_TOKENS))).toEqual({ kubernetes: "off", joinTokens: "file" });
  });
});

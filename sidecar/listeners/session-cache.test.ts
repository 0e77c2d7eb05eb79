import { describe, expect, it } from "vitest";
import { SpiffeId } from "../../lib/spiffe/id.js";
import type { ActiveCredentials } from "../credentials/credential-store.js";
import type { AcceptedPeer } from "./peer-verifier.js";
import { SessionCache } from "./session-cache.js";

// The cache compares credentials by identity only; two distinct objects stand for two rotations.
const before = Object.freeze({}) as ActiveCredentials;
const after = Object.freeze({}) as ActiveCredentials;
const T0 = 1_800_000_000_000;
const LIFETIME = 300_000;
const peer = (notAfter: number): AcceptedPeer => ({ ok: true, id: SpiffeId.parse("spiffe://example.org/ns/shop/sa/orders"), notBefore: T0 - 60_000, notAfter });
const ticket = Buffer.from("ticket");

describe("SessionCache", () => {
  it("offers nothing until a session is kept, then the session with the verdict on its upstream", () => {
    const cache = new SessionCache(LIFETIME);
    expect(cache.offer(before, T0)).toBeUndefined();
    cache.keep(ticket, before, peer(T0 + 3_600_000), T0);
    expect(cache.offer(before, T0 + 1)).toMatchObject({ session: ticket, peer: peer(T0 + 3_600_000) });
  });

  it("stops offering at the ticket lifetime", () => {
    const cache = new SessionCache(LIFETIME);
    cache.keep(ticket, before, peer(T0 + 3_600_000), T0);
    expect(cache.offer(before, T0 + LIFETIME - 1)).toBeDefined();
    expect(cache.offer(before, T0 + LIFETIME)).toBeUndefined();
    expect(cache.holding).toBe(false);
  });

  it("stops offering when the upstream's certificate expires, if that comes first", () => {
    const cache = new SessionCache(LIFETIME);
    cache.keep(ticket, before, peer(T0 + 10_000), T0);
    expect(cache.offer(before, T0 + 9_999)).toBeDefined();
    expect(cache.offer(before, T0 + 10_000)).toBeUndefined();
  });

  it("drops a session made with other credentials (a rotation or a bundle change since)", () => {
    const cache = new SessionCache(LIFETIME);
    cache.keep(ticket, before, peer(T0 + 3_600_000), T0);
    expect(cache.offer(after, T0 + 1)).toBeUndefined();
    expect(cache.offer(before, T0 + 2)).toBeUndefined();
  });

  it("forgets on request, and a newer session replaces an older one", () => {
    const cache = new SessionCache(LIFETIME);
    cache.keep(ticket, before, peer(T0 + 3_600_000), T0);
    cache.forget();
    expect(cache.offer(before, T0)).toBeUndefined();
    const newer = Buffer.from("newer");
    cache.keep(ticket, before, peer(T0 + 3_600_000), T0);
    cache.keep(newer, after, peer(T0 + 3_600_000), T0 + 5);
    expect(cache.offer(after, T0 + 6)?.session).toBe(newer);
  });
});

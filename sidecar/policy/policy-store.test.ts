import { describe, expect, it } from "vitest";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { loadPolicy, type Policy } from "./policy.js";
import { PolicyStore } from "./policy-store.js";

const FRONTEND = SpiffeId.parse("spiffe://example.org/ns/web/sa/frontend");

function allowing(...ids: string[]): Policy {
  return loadPolicy(`version: 1\nlisteners:\n  http:\n    allow: [${ids.map((id) => JSON.stringify(id)).join(", ")}]\n`, "policy.yaml");
}

describe("PolicyStore", () => {
  it("without a policy holds the empty one: every listener denies everyone by default", () => {
    const store = new PolicyStore();
    expect(store.current.listeners).toEqual([]);
    expect(store.current.decide("http", FRONTEND)).toEqual({ decision: "deny", rule: "default" });
  });

  it("starts with the policy it is given, and tells no subscriber about it", () => {
    const initial = allowing(FRONTEND.toString());
    const store = new PolicyStore(initial);
    const seen: Policy[] = [];
    store.subscribe((p) => seen.push(p));
    expect(store.current).toBe(initial);
    expect(seen).toEqual([]);
  });

  it("publishes in one swap: subscribers run in order and each already sees the new policy in force", () => {
    const store = new PolicyStore(allowing(FRONTEND.toString()));
    const next = allowing("spiffe://example.org/ns/other/sa/x");
    const seen: string[] = [];
    store.subscribe((p) => seen.push(`first ${p === next} ${store.current === next}`));
    store.subscribe((p) => seen.push(`second ${p === next} ${store.current.decide("http", FRONTEND).decision}`));
    store.publish(next);
    expect(seen).toEqual(["first true true", "second true deny"]);
  });

  it("stops telling a subscriber once it unsubscribes, even from inside a notification", () => {
    const store = new PolicyStore();
    const seen: string[] = [];
    const stopA = store.subscribe(() => {
      seen.push("a");
      stopA();
    });
    store.subscribe(() => seen.push("b"));
    store.publish(allowing(FRONTEND.toString()));
    store.publish(allowing(FRONTEND.toString()));
    expect(seen).toEqual(["a", "b", "b"]);
  });
});

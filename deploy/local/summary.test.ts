import { describe, expect, it } from "vitest";
import { callerSeen, formatSummary, summaryRecord, type Summary } from "./summary.js";

const FRONTEND = "spiffe://example.org/ns/default/sa/frontend";
const ordersAnswer = { service: "orders", caller: { spiffeId: FRONTEND, address: "127.0.0.1:40168" }, received: { method: "GET", path: "/" } };

const summary: Summary = {
  stateDir: ".mesh-local",
  meshJson: ".mesh-local/mesh.json",
  policyFiles: { orders: "deploy/local/orders.policy.yaml" },
  calls: [
    { title: `${FRONTEND} → orders`, expected: "allowed", outcome: { result: "allowed", detail: "HTTP 200", status: 200, body: JSON.stringify(ordersAnswer) }, command: "curl a" },
    { title: "outsider → orders", expected: "refused", outcome: { result: "refused", detail: "connection closed" }, command: "curl b" },
    {
      title: "frontend app → … → orders app",
      expected: "allowed",
      outcome: { result: "allowed", detail: "HTTP 200", status: 200, body: JSON.stringify({ service: "frontend", upstream: { status: 200, body: ordersAnswer } }) },
      command: "curl c",
    },
  ],
  curlNote: "note",
  opensslCommand: "openssl",
  metrics: {},
  counters: [],
};

describe("the npm start summary", () => {
  it("reads the caller the orders app named, directly or behind the frontend app", () => {
    expect(summary.calls.map((c) => callerSeen(c.outcome))).toEqual([FRONTEND, undefined, FRONTEND]);
  });

  it("prints the caller on the terminal and in the JSON record", () => {
    const text = formatSummary(summary);
    expect(text).toContain(`HTTP 200 from orders, which saw the caller ${FRONTEND}`);
    expect(text).toContain(`HTTP 200 from frontend, which answered from orders, which saw the caller ${FRONTEND}`);
    const calls = summaryRecord(summary).calls as { caller?: string }[];
    expect(calls.map((c) => c.caller)).toEqual([FRONTEND, undefined, FRONTEND]);
  });
});

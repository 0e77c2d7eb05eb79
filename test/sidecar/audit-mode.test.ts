/**
 * Policy `mode: audit`, over real TLS on loopback: a peer the policy would
 * deny reaches the app, is logged at warn and counted as audit_deny with the
 * entry that would have denied it; an allowed peer is counted as allow. A
 * hot reload from audit to enforce closes the now-denied open connection
 * and refuses the next one; back to audit lets the peer in at once.
 */
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeCa } from "./fake-ca.js";
import { Backend, holdTlsConnection, ID, logsWith, metricValue, startTestSidecar, TD, type HeldConnection, type TestSidecar, tlsExchange, waitFor } from "./harness.js";

let ca: FakeCa;
let backend: Backend;
let sc: TestSidecar;

const policyIn = (mode: "audit" | "enforce" | undefined): string =>
  [
    "version: 1",
    "listeners:",
    "  http:",
    ...(mode ? [`    mode: ${mode}`] : []),
    "    allow:",
    `      - spiffe://${TD}/ns/web/**`,
    "    deny:",
    `      - ${ID.legacy}`,
    "",
  ].join("\n");

beforeAll(async () => {
  ca = await FakeCa.create();
  backend = await Backend.start();
  sc = await startTestSidecar({ ca, inbound: [{ name: "http", forward: backend.address }], policy: policyIn("audit") });
  await waitFor("the first SVID", () => sc.sidecar.readiness().ready);
});

afterAll(async () => {
  await sc?.stop();
  await backend?.close();
  await ca?.stop();
});

const decisions = (decision: string, rule: string): Promise<number> =>
  metricValue(sc.sidecar.registry, "mesh_sidecar_authz_decisions_total", { listener: "http", decision, rule });
const reloadsOk = (): Promise<number> => metricValue(sc.sidecar.registry, "mesh_sidecar_policy_reloads_total", { result: "ok" });
const auditLines = (): Record<string, unknown>[] => logsWith(sc.logs, "audit: the policy would deny this peer");

async function echo(id: string, text: string): Promise<string> {
  return (await tlsExchange(sc.port("http"), { identity: await ca.issue(id), bundlePem: ca.bundlePem, data: text })).received;
}

/** An open, proxied connection to the audit listener. */
function openConn(id: string): Promise<HeldConnection> {
  return holdTlsConnection(ca, sc.port("http"), id);
}

describe("an audit-mode listener", () => {
  it("starts its would-be denials at 0 as audit_deny, and has no deny series", async () => {
    expect(await decisions("audit_deny", "default")).toBe(0);
    expect(await decisions("audit_deny", ID.legacy)).toBe(0);
    const { values } = await (sc.sidecar.registry.getSingleMetric("mesh_sidecar_authz_decisions_total") as { get(): Promise<{ values: { labels: Record<string, string> }[] }> }).get();
    expect(values.filter((v) => v.labels.decision === "deny")).toEqual([]);
  });

  it("lets a peer the policy would deny through, logs it at warn with peer, rule and listener, and counts audit_deny", async () => {
    const before = backend.connections;
    expect(await echo(ID.stranger, "not in the policy")).toBe("not in the policy");
    expect(await echo(ID.legacy, "listed under deny")).toBe("listed under deny");
    expect(backend.connections).toBe(before + 2);
    expect(await decisions("audit_deny", "default")).toBe(1);
    expect(await decisions("audit_deny", ID.legacy)).toBe(1);
    expect(auditLines().map((l) => ({ level: l.level, peer: l.peer, rule: l.rule, listener: l.listener }))).toEqual([
      { level: 40, peer: ID.stranger, rule: "default", listener: "http" },
      { level: 40, peer: ID.legacy, rule: ID.legacy, listener: "http" },
    ]);
    expect(await metricValue(sc.sidecar.registry, "mesh_sidecar_tls_handshakes_total", { listener: "http", direction: "inbound", result: "wrong_peer" })).toBe(0);
  });

  it("counts an allowed peer as allow, and does not log it as an audit", async () => {
    const lines = auditLines().length;
    expect(await echo(ID.frontend, "allowed")).toBe("allowed");
    expect(await decisions("allow", `spiffe://${TD}/ns/web/**`)).toBe(1);
    expect(auditLines().length).toBe(lines);
  });

  it("closes the now-denied open connection when reloaded to enforce, and refuses the next; back to audit lets it in at once", async () => {
    const audited = await decisions("audit_deny", ID.legacy);
    const legacy = await openConn(ID.legacy);
    const frontend = await openConn(ID.frontend);
    expect(await legacy.echo("held open")).toBe("held open");
    expect(await decisions("audit_deny", ID.legacy)).toBe(audited + 1);

    await writeFile(sc.policyPath, policyIn("enforce"));
    await waitFor("the reload to enforce", async () => (await reloadsOk()) === 1);
    await waitFor("the legacy connection to be closed", () => legacy.closed());
    expect(frontend.closed()).toBe(false);
    expect(await frontend.echo("still allowed")).toBe("still allowed");
    expect(logsWith(sc.logs, "closing connection: the reloaded policy denies").map((l) => [l.peer, l.rule])).toEqual([[ID.legacy, ID.legacy]]);
    expect(await decisions("deny", ID.legacy)).toBe(1);

    const before = backend.connections;
    expect(await echo(ID.legacy, "refused now")).toBe("");
    expect(backend.connections).toBe(before);
    expect(await decisions("deny", ID.legacy)).toBe(2);

    await writeFile(sc.policyPath, policyIn(undefined).replace("  http:\n", "  http:\n    mode: audit\n"));
    await waitFor("the reload back to audit", async () => (await reloadsOk()) === 2);
    expect(await echo(ID.legacy, "let through again")).toBe("let through again");
    expect(await decisions("audit_deny", ID.legacy)).toBe(audited + 2);
    frontend.socket.destroy();
  });

  it("keeps an open connection that a reload in audit mode would deny, reporting it once however often it reloads", async () => {
    const ops = await openConn(`spiffe://${TD}/ns/web/sa/ops`);
    expect(await ops.echo("allowed by ns/web/**")).toBe("allowed by ns/web/**");
    const lines = auditLines().length;
    const narrowed = policyIn("audit").replace(`spiffe://${TD}/ns/web/**`, ID.frontend);
    await writeFile(sc.policyPath, narrowed);
    await waitFor("the narrowing reload", async () => (await reloadsOk()) === 3);
    await waitFor("the audit line", () => auditLines().length === lines + 1);
    expect(auditLines().at(-1)).toMatchObject({ level: 40, peer: `spiffe://${TD}/ns/web/sa/ops`, rule: "default", reason: "policy_reload", listener: "http" });
    await writeFile(sc.policyPath, `${narrowed}# the same policy, once more\n`);
    await waitFor("the repeated reload", async () => (await reloadsOk()) === 4);
    expect(ops.closed()).toBe(false);
    expect(await ops.echo("still here")).toBe("still here");
    expect(auditLines().length).toBe(lines + 1);
    ops.socket.destroy();
  });
});

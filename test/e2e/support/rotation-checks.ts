/** The assertions and the printed figures of a root rotation run (root-rotation.ts). */
import { expect } from "vitest";
import type { RotationMesh, RotationReport } from "./root-rotation.js";

/** Everything "no downtime" means for one run. */
export function expectZeroDowntime(report: RotationReport, mesh: RotationMesh): void {
  expect(report.newConnections.failures, `failed requests on new connections:\n${report.newConnections.failures.join("\n")}`).toEqual([]);
  expect(report.newConnections.failed).toBe(0);
  expect(report.newConnections.ok).toBeGreaterThan(100);
  expect(report.longLived.failures, `failed requests on the long-lived connection:\n${report.longLived.failures.join("\n")}`).toEqual([]);
  expect(report.longLived.ok).toBeGreaterThan(100);
  expect(report.longLived.stillOpen).toBe(true);
  expect(report.handshakeFailures).toBe(0);
  for (const [sidecar, counts] of Object.entries(report.renewals)) {
    expect({ sidecar, error: counts.error, invalid: counts.invalid }).toEqual({ sidecar, error: 0, invalid: 0 });
    // The first SVID, and at least the renewal that brought the new root (20 s SVIDs renew about every 10 s).
    expect(counts.ok, sidecar).toBeGreaterThanOrEqual(2);
  }
  expect(report.caReloads.error.every((n) => n === 0), `reload errors per CA: ${report.caReloads.error.join(", ")}`).toBe(true);
  expect(report.caReloads.ok.every((n) => n >= 3), `reloads per CA: ${report.caReloads.ok.join(", ")}`).toBe(true);
  expect(report.caRequestErrors).toBe(0);
  expect(report.sequences.cas.every((s) => s === 3)).toBe(true);
  expect(report.sequences.sidecars).toEqual([3, 3]);
  expect(report.steps.activate.refusedTooEarly).toBeGreaterThan(0);
  expect(report.steps.retire.refusedTooEarly).toBeGreaterThan(0);
  expect(report.servesNewRoot).toEqual({ orders: true, frontend: true });
  expect(report.oldRootClient.untrustedCounted).toBe(1);
  expect(report.oldRootClient.error).not.toMatch(/^answered/);
  expect(mesh.backend.requests.filter((r) => r.path === "/held").length).toBe(report.longLived.ok);
}

/** Prints the figures of a run (the closing note quotes them). */
export function printFigures(what: string, r: RotationReport): void {
  const step = (name: keyof RotationReport["steps"]): string => {
    const s = r.steps[name];
    const since = name === "prepare" ? "" : `${(s.sincePreviousMs / 1000).toFixed(1)} s after the previous step (${s.refusedTooEarly} attempts refused as too early), `;
    return `${name}: ${since}command ${s.commandMs} ms, all CAs serving it ${s.casConvergedMs} ms later, all sidecars ${(s.sidecarsConvergedMs / 1000).toFixed(1)} s later`;
  };
  console.log(
    [
      `root rotation under traffic (${what}), ${(r.totalMs / 1000).toFixed(1)} s:`,
      `  requests on new connections: ${r.newConnections.ok} ok, ${r.newConnections.failed} failed`,
      `  requests on the long-lived connection: ${r.longLived.ok} ok, ${r.longLived.failed} failed, still open: ${r.longLived.stillOpen}`,
      `  handshakes between and into the sidecars: ${r.handshakesOk} ok, ${r.handshakeFailures} refused`,
      `  SVID renewals: orders ${r.renewals.orders.ok} ok / ${r.renewals.orders.error + r.renewals.orders.invalid} failed, frontend ${r.renewals.frontend.ok} ok / ${r.renewals.frontend.error + r.renewals.frontend.invalid} failed`,
      `  CA reloads: ${r.caReloads.ok.join("+")} ok, ${r.caReloads.error.join("+")} refused; bundle sequence CAs ${r.sequences.cas.join(",")}, sidecars ${r.sequences.sidecars.join(",")}`,
      `  ${step("prepare")}`,
      `  ${step("activate")}`,
      `  ${step("retire")}`,
      `  old-root client after retire: ${r.oldRootClient.error} (untrusted +${r.oldRootClient.untrustedCounted})`,
    ].join("\n"),
  );
}

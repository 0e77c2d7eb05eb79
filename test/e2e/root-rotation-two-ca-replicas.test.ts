/**
 * The same rotation proof with two `mesh-ca serve` processes on one CA
 * directory (two replicas on one Secret): each sidecar gets its SVIDs and
 * bundle from a different replica, both replicas follow every step of the
 * directory and publish the same bundle sequence, and nothing fails.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectZeroDowntime, printFigures } from "./support/rotation-checks.js";
import { rotateUnderTraffic, startRotationMesh, type RotationMesh } from "./support/root-rotation.js";

describe("root rotation under continuous traffic, two mesh-ca processes on one directory", () => {
  let mesh: RotationMesh;

  beforeAll(async () => {
    mesh = await startRotationMesh(2);
  });

  afterAll(async () => {
    await mesh?.close();
  });

  it("both replicas converge on every step; 0 failed connections, 0 failed renewals", { timeout: 90_000 }, async () => {
    const report = await rotateUnderTraffic(mesh);
    printFigures("two mesh-ca processes", report);
    expect(report.sequences.cas).toEqual([3, 3]);
    expectZeroDowntime(report, mesh);
  });
});

/**
 * The proof that a root rotation needs no downtime: mesh-ca with 20 s SVIDs,
 * two sidecars with traffic flowing continuously frontend → orders, on new
 * connections and on one long-lived connection opened before the rotation,
 * while `mesh-ca rotate prepare`, `activate` and `retire` run, each as soon
 * as the config's waits allow (2 × a 2 s refresh hint; maxTtl + backdate),
 * never with --force. Not one request, handshake or renewal fails; the
 * long-lived connection survives; both sidecars end on SVIDs of the new root;
 * afterwards a client with an SVID of the old root is refused as untrusted.
 * The figures of the run are printed.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import { expectZeroDowntime, printFigures } from "./support/rotation-checks.js";
import { rotateUnderTraffic, startRotationMesh, type RotationMesh } from "./support/root-rotation.js";

describe("root rotation under continuous traffic, one mesh-ca", () => {
  let mesh: RotationMesh;

  beforeAll(async () => {
    mesh = await startRotationMesh(1);
  });

  afterAll(async () => {
    await mesh?.close();
  });

  it("prepare → activate → retire: 0 failed connections, 0 failed renewals, the long-lived connection survives", { timeout: 90_000 }, async () => {
    const report = await rotateUnderTraffic(mesh);
    printFigures("one mesh-ca", report);
    expectZeroDowntime(report, mesh);
  });
});

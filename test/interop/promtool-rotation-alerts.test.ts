/**
 * `promtool test rules` (Prometheus's own rule evaluator) on the shipped
 * PrometheusRule: the rotation alerts fire on exactly the situations they
 * describe, and stay quiet on the normal course of a rotation:
 *
 * - MeshCaRotationPreparedTooLong: a next root prepared more than a day ago;
 *   not while it is younger, nor once the rotation was activated;
 * - MeshCaRotationRetireOverdue: the previous root kept a day past its safe
 *   retire time; not before, nor once retired;
 * - MeshSidecarBundleBehind: a sidecar whose bundle sequence is below the
 *   CA's for 15 minutes; not one that caught up within a refresh.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { findObject, renderKustomization, type K8sObject } from "../deploy/kustomize.js";
import { run } from "../helpers/processes.js";
import { requirePromtool } from "./support/tools.js";

const HOUR = 3600;
let promtool: string;
let dir: string;
let rulesFile: string;
let shippedFile: string;

beforeAll(async () => {
  promtool = requirePromtool();
  dir = await mkdtemp(join(tmpdir(), "promtool-rules-"));
  const monitoring = await renderKustomization("monitoring");
  const rule = findObject(monitoring, "PrometheusRule", "mtls-mesh") as K8sObject & { spec: { groups: { rules: Record<string, unknown>[] }[] } };
  shippedFile = join(dir, "shipped.yaml");
  await writeFile(shippedFile, stringify({ groups: rule.spec.groups }));
  // promtool compares annotations as well; the cases below are about when alerts fire, so they run on the rules without them.
  rulesFile = join(dir, "rules.yaml");
  const bare = rule.spec.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _annotations, ...r }) => r) }));
  await writeFile(rulesFile, stringify({ groups: bare }));
}, 300_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface AlertCase {
  eval_time: string;
  alertname: string;
  exp_alerts: { exp_labels: Record<string, string> }[];
}

/** Runs promtool test rules on one test group; resolves with its output when every case passes. */
async function promtoolTest(name: string, inputSeries: { series: string; values: string }[], cases: AlertCase[]): Promise<string> {
  const file = join(dir, `${name}.test.yaml`);
  await writeFile(file, stringify({ rule_files: [rulesFile], evaluation_interval: "1m", tests: [{ interval: "1m", input_series: inputSeries, alert_rule_test: cases }] }));
  const r = await run({ command: promtool, args: ["test", "rules", file] }, 60_000);
  expect(r.output).toContain("SUCCESS");
  expect(r.code, r.output).toBe(0);
  return r.output;
}

/** An alert expected to fire, by its labels. */
function firing(alertname: string, labels: Record<string, string>): { exp_labels: Record<string, string> } {
  return { exp_labels: { alertname, severity: "warning", ...labels } };
}

const CA = 'namespace="mesh-system",pod="mesh-ca-1"';

/** promtool's input values: one sample a minute for `minutes` minutes. */
function perMinute(minutes: number, value: (minute: number) => number): string {
  return Array.from({ length: minutes }, (_, m) => value(m)).join(" ");
}

describe("the rotation alerts, evaluated by promtool", () => {
  it("are valid rules, templates included (promtool check rules on the shipped file)", async () => {
    const r = await run({ command: promtool, args: ["check", "rules", shippedFile] }, 60_000);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("SUCCESS");
  });

  it("MeshCaRotationPreparedTooLong fires a day after prepare, and not once activated", async () => {
    // Prepared at t=0 (timestamp 0), activated at 30h.
    const minutes = 40 * 60;
    const activatedAt = 30 * 60;
    await promtoolTest(
      "prepared",
      [
        { series: `mesh_ca_rotation_state{${CA},state="prepared"}`, values: perMinute(minutes, (m) => (m < activatedAt ? 1 : 0)) },
        { series: `mesh_ca_rotation_state{${CA},state="activated"}`, values: perMinute(minutes, (m) => (m < activatedAt ? 0 : 1)) },
        { series: `mesh_ca_rotation_step_timestamp_seconds{${CA},step="prepare"}`, values: `0x${minutes}` },
      ],
      [
        { eval_time: "23h", alertname: "MeshCaRotationPreparedTooLong", exp_alerts: [] },
        { eval_time: "25h", alertname: "MeshCaRotationPreparedTooLong", exp_alerts: [firing("MeshCaRotationPreparedTooLong", { namespace: "mesh-system" })] },
        { eval_time: "31h", alertname: "MeshCaRotationPreparedTooLong", exp_alerts: [] },
      ],
    );
  });

  it("MeshCaRotationRetireOverdue fires a day after retire became safe, and not once retired", async () => {
    // Activated; retire safe at 2h (7200 s); retired at 30h (state idle, safe time back to 0).
    const minutes = 40 * 60;
    const retiredAt = 30 * 60;
    const series = (on: (m: number) => number): string => perMinute(minutes, on);
    await promtoolTest(
      "retire",
      [
        { series: `mesh_ca_rotation_state{${CA},state="activated"}`, values: series((m) => (m < retiredAt ? 1 : 0)) },
        { series: `mesh_ca_rotation_state{${CA},state="idle"}`, values: series((m) => (m < retiredAt ? 0 : 1)) },
        { series: `mesh_ca_rotation_safe_timestamp_seconds{${CA},step="retire"}`, values: series((m) => (m < retiredAt ? 2 * HOUR : 0)) },
      ],
      [
        { eval_time: "3h", alertname: "MeshCaRotationRetireOverdue", exp_alerts: [] },
        { eval_time: "25h", alertname: "MeshCaRotationRetireOverdue", exp_alerts: [] },
        { eval_time: "27h", alertname: "MeshCaRotationRetireOverdue", exp_alerts: [firing("MeshCaRotationRetireOverdue", { namespace: "mesh-system" })] },
        { eval_time: "31h", alertname: "MeshCaRotationRetireOverdue", exp_alerts: [] },
      ],
    );
  });

  it("MeshSidecarBundleBehind fires for a sidecar 15 minutes behind the CA's sequence, not for one that caught up", async () => {
    // The CA goes from sequence 1 to 2 at minute 10; "fast" follows at minute 14, "stuck" never does.
    const minutes = 60;
    const series = (on: (m: number) => number): string => perMinute(minutes, on);
    await promtoolTest(
      "behind",
      [
        { series: `mesh_ca_trust_bundle_sequence{${CA}}`, values: series((m) => (m < 10 ? 1 : 2)) },
        { series: `mesh_ca_trust_bundle_sequence{namespace="mesh-system",pod="mesh-ca-2"}`, values: series((m) => (m < 11 ? 1 : 2)) },
        { series: 'mesh_sidecar_bundle_sequence{namespace="shop",pod="fast"}', values: series((m) => (m < 14 ? 1 : 2)) },
        { series: 'mesh_sidecar_bundle_sequence{namespace="shop",pod="stuck"}', values: `1x${minutes}` },
      ],
      [
        { eval_time: "20m", alertname: "MeshSidecarBundleBehind", exp_alerts: [] },
        { eval_time: "30m", alertname: "MeshSidecarBundleBehind", exp_alerts: [firing("MeshSidecarBundleBehind", { namespace: "shop", pod: "stuck" })] },
      ],
    );
  });
});

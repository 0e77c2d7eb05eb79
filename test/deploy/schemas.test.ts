/**
 * Every Kustomize tree under deploy/kubernetes renders with the real
 * `kubectl kustomize`, and every object it renders validates against the
 * Kubernetes / Prometheus Operator schemas, with no field the schemas do not
 * know.
 */
import { describe, expect, it } from "vitest";
import { findKustomizations, renderKustomization, type K8sObject } from "./kustomize.js";
import { validateObject } from "./schemas.js";

const kustomizations = findKustomizations();

it("finds the base, the monitoring tree and the example", () => {
  expect(kustomizations).toEqual(expect.arrayContaining(["base", "monitoring", "examples/shop"]));
});

describe.each(kustomizations)("deploy/kubernetes/%s", (dir) => {
  it("renders, and every object validates against its schema with no unknown field", async () => {
    const objects = await renderKustomization(dir);
    expect(objects.length).toBeGreaterThan(0);
    expect(objects.flatMap(validateObject)).toEqual([]);
  });

  it("holds no Secret: keys and tokens are made by hand in the cluster, never committed", async () => {
    const objects = await renderKustomization(dir);
    expect(objects.filter((o) => o.kind === "Secret").map((o) => o.metadata.name)).toEqual([]);
    const text = JSON.stringify(objects);
    expect(text).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    expect(text).not.toMatch(/meshjt_[A-Za-z0-9_-]{8,}/);
  });
});

describe("the strict schema check", () => {
  const deployment = (): K8sObject =>
    structuredClone({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "d", labels: { app: "d" } },
      spec: {
        selector: { matchLabels: { app: "d" } },
        template: {
          metadata: { labels: { app: "d" } },
          spec: { containers: [{ name: "c", image: "i:1", securityContext: { readOnlyRootFilesystem: true } }] },
        },
      },
    });

  it("passes a correct object, labels and all", () => {
    expect(validateObject(deployment())).toEqual([]);
  });

  it("catches a misspelt field that the schema package alone lets through", async () => {
    const bad = deployment() as K8sObject & { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
    bad.spec.template.spec.containers[0] = { name: "c", image: "i:1", securityContext: { readOnlyRootFilesytem: true } };
    const { Deployment } = await import("kubernetes-models/apps/v1");
    expect(() => new Deployment(bad as never).validate()).not.toThrow();
    expect(validateObject(bad)).toEqual([
      "Deployment/d: spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem: unknown field (not in the schema)",
    ]);
  });

  it("catches an unknown field in a Prometheus Operator object", () => {
    const rule: K8sObject = {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PrometheusRule",
      metadata: { name: "r" },
      spec: { groups: [{ name: "g", rules: [{ alert: "A", expr: "up == 0", severity: "critical" }] }] },
    };
    expect(validateObject(rule)).toEqual(["PrometheusRule/r: spec.groups[0].rules[0].severity: unknown field (not in the schema)"]);
  });

  it("reports what the schema itself forbids", () => {
    const bad = deployment() as K8sObject & { spec: Record<string, unknown> };
    bad.spec.replicas = "two";
    expect(validateObject(bad).join("\n")).toMatch(/^Deployment\/d: .*replicas must be integer/);
  });

  it("refuses a kind it has no schema for rather than passing it unchecked", () => {
    expect(validateObject({ apiVersion: "example.org/v1", kind: "Widget", metadata: { name: "w" } })).toEqual([
      "Widget/w: no schema known for example.org/v1 Widget: add its kubernetes-models module to test/deploy/schemas.ts",
    ]);
  });
});

/**
 * deploy/kubernetes/monitoring: the alerts and the dashboard query only
 * metrics, labels and label values that the programs really export (their
 * /metrics output) and that docs/metrics.md documents; the scrape objects
 * find the pods and ports the manifests define.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { documentedMetrics, familyOf, type ExposedMetric } from "./exposition.js";
import { findConfigMap, findObject, renderKustomization, type K8sObject } from "./kustomize.js";
import { caMetrics, sidecarMetrics } from "./metrics-endpoint.js";
import { readLabelValuesQuery, readPromql } from "./promql.js";

interface Rule {
  alert?: string;
  record?: string;
  expr: string | number;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Panel {
  title?: string;
  type?: string;
  panels?: Panel[];
  targets?: { expr?: string }[];
}
interface Query {
  where: string;
  expr: string;
}

/** Labels Prometheus attaches to every scraped series (PodMonitor, ServiceMonitor, annotation discovery). */
const TARGET_LABELS = new Set(["namespace", "pod", "container", "instance", "job", "endpoint", "service"]);

let monitoring: K8sObject[];
let alerts: Rule[];
let dashboard: { panels: Panel[]; templating: { list: { name: string; query?: unknown }[] } };
let queries: Query[];
let exposed: Map<string, ExposedMetric>;
const documented = documentedMetrics();

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

beforeAll(async () => {
  monitoring = await renderKustomization("monitoring");
  const rule = findObject(monitoring, "PrometheusRule", "mtls-mesh") as K8sObject & { spec: { groups: { name: string; rules: Rule[] }[] } };
  alerts = rule.spec.groups.flatMap((g) => g.rules);
  dashboard = JSON.parse(findConfigMap(monitoring, "mtls-mesh-dashboard").data["mtls-mesh.json"] ?? "null") as typeof dashboard;
  queries = [
    ...alerts.map((r) => ({ where: `alert ${r.alert ?? r.record}`, expr: String(r.expr) })),
    ...allPanels(dashboard.panels).flatMap((p) =>
      (p.targets ?? []).filter((t) => t.expr !== undefined).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr as string })),
    ),
  ];
  exposed = new Map([...(await sidecarMetrics()), ...(await caMetrics())]);
});

describe("the PromQL reader", () => {
  it("finds metric names and their matchers, and sets aside functions, keywords, grouping labels and ranges", () => {
    const refs = readPromql(
      'histogram_quantile(0.99, sum by (le, direction) (rate(a_seconds_bucket{ns=~"$namespace", x!="y"}[$__rate_interval]))) ' +
        "> 3 * sum without (pod) (rate(b_total[1d] offset 5m)) unless on (listener) c_gauge - time() < 30 * 24 * 3600",
    );
    expect(refs.selectors.map((s) => s.name)).toEqual(["a_seconds_bucket", "b_total", "c_gauge"]);
    expect(refs.selectors[0]?.matchers).toEqual([
      { label: "ns", op: "=~", value: "$namespace" },
      { label: "x", op: "!=", value: "y" },
    ]);
    expect(refs.groupingLabels).toEqual(["le", "direction", "pod", "listener"]);
  });

  it("reports a misspelt metric name as a name, so the checks below catch it", () => {
    expect(readPromql("rate(mesh_sidecar_tls_handshake_total[5m])").selectors.map((s) => s.name)).toEqual([
      "mesh_sidecar_tls_handshake_total",
    ]);
  });

  it("reads Grafana's label_values() variable queries", () => {
    expect(readLabelValuesQuery("label_values(mesh_sidecar_tls_handshakes_total, namespace)")).toEqual({
      metric: "mesh_sidecar_tls_handshakes_total",
      label: "namespace",
    });
  });
});

describe("metric names in alerts and the dashboard", () => {
  it("has expressions to check from both the alerts and the dashboard", () => {
    expect(queries.filter((q) => q.where.startsWith("alert")).length).toBeGreaterThanOrEqual(7);
    expect(queries.filter((q) => q.where.startsWith("panel")).length).toBeGreaterThanOrEqual(5);
  });

  it("exist in the programs' real /metrics output", () => {
    const missing = queries.flatMap((q) =>
      readPromql(q.expr)
        .selectors.filter((s) => !exposed.has(familyOf(s.name, exposed)))
        .map((s) => `${q.where}: ${s.name}`),
    );
    for (const variable of dashboard.templating.list) {
      const query = typeof variable.query === "string" ? variable.query : (variable.query as { query?: string } | undefined)?.query;
      const lv = query === undefined ? undefined : readLabelValuesQuery(query);
      if (lv && !exposed.has(lv.metric)) missing.push(`variable $${variable.name}: ${lv.metric}`);
    }
    expect(missing).toEqual([]);
  });

  it("are all documented in docs/metrics.md", () => {
    const outside = queries.flatMap((q) =>
      readPromql(q.expr)
        .selectors.filter((s) => !documented.has(familyOf(s.name, exposed)))
        .map((s) => `${q.where}: ${s.name}`),
    );
    expect(outside).toEqual([]);
  });

  it("match on labels the metric has, and on label values it really takes", () => {
    const problems: string[] = [];
    for (const q of queries) {
      for (const s of readPromql(q.expr).selectors) {
        const family = exposed.get(familyOf(s.name, exposed));
        if (!family) continue; // reported above
        const isBucket = s.name.endsWith("_bucket") && family.type === "histogram";
        for (const m of s.matchers) {
          if (TARGET_LABELS.has(m.label) || (isBucket && m.label === "le")) continue;
          const values = family.labels.get(m.label);
          if (!values) problems.push(`${q.where}: ${s.name} has no label ${m.label}`);
          else if ((m.op === "=" || m.op === "!=") && !values.has(m.value)) {
            problems.push(`${q.where}: ${s.name}{${m.label}} never takes the value "${m.value}" (it takes ${[...values].join(", ")})`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("group only by labels of the metrics they select, or by target labels", () => {
    const problems: string[] = [];
    for (const q of queries) {
      const refs = readPromql(q.expr);
      const labels = new Set<string>(TARGET_LABELS);
      for (const s of refs.selectors) {
        const family = exposed.get(familyOf(s.name, exposed));
        for (const label of family?.labels.keys() ?? []) labels.add(label);
      }
      for (const label of refs.groupingLabels) if (!labels.has(label)) problems.push(`${q.where}: groups by unknown label ${label}`);
    }
    expect(problems).toEqual([]);
  });
});

describe("the alerts", () => {
  const required: [string, RegExp][] = [
    ["MeshSidecarSvidExpiringSoon", /mesh_sidecar_svid_expiry_timestamp_seconds - time\(\) < 600\b/],
    ["MeshSidecarSvidRenewalsFailing", /mesh_sidecar_svid_renewals_total\{result!="ok"\}/],
    ["MeshSidecarPolicyReloadFailing", /mesh_sidecar_policy_reloads_total\{result!="ok"\}/],
    ["MeshSidecarDenyRateSpike", /mesh_sidecar_authz_decisions_total\{decision="deny"\}/],
    ["MeshSidecarAuditDenials", /sum by \(namespace, listener, rule\) \(increase\(mesh_sidecar_authz_decisions_total\{decision="audit_deny"\}\[/],
    ["MeshSidecarHandshakeFailures", /mesh_sidecar_tls_handshakes_total\{result!="ok"\}/],
    ["MeshCaRootExpiringSoon", /mesh_ca_root_expiry_timestamp_seconds\) - time\(\) < 30 \* 24 \* 3600/],
    ["MeshCaSigningCertExpiringSoon", /mesh_ca_signing_cert_expiry_timestamp_seconds\) - time\(\) < 30 \* 24 \* 3600/],
    ["MeshCaIssuanceErrors", /mesh_ca_svid_requests_total\{result="error"\}/],
    ["MeshSidecarBundleBehind", /mesh_sidecar_bundle_sequence < scalar\(max\(mesh_ca_trust_bundle_sequence\)\)/],
    ["MeshCaRotationPreparedTooLong", /mesh_ca_rotation_step_timestamp_seconds\{step="prepare"\}[\s\S]*mesh_ca_rotation_state\{state="prepared"\}/],
    ["MeshCaRotationRetireOverdue", /mesh_ca_rotation_safe_timestamp_seconds\{step="retire"\}[\s\S]*mesh_ca_rotation_state\{state="activated"\}/],
  ];

  it.each(required)("include %s", (name, expr) => {
    const alert = alerts.find((a) => a.alert === name);
    expect(alert, `alert ${name}`).toBeDefined();
    expect(String(alert?.expr)).toMatch(expr);
  });

  it("each carry a severity and a summary and description for whoever is paged", () => {
    for (const a of alerts) {
      expect(["critical", "warning", "info"], `${a.alert} severity`).toContain(a.labels?.severity);
      expect(a.annotations?.summary, `${a.alert} summary`).toBeTruthy();
      expect(a.annotations?.description, `${a.alert} description`).toBeTruthy();
    }
  });
});

describe("the dashboard", () => {
  const exprs = (): string[] => queries.filter((q) => q.where.startsWith("panel")).map((q) => q.expr);
  const required: [string, RegExp][] = [
    ["handshakes by result", /sum by \(result\) \(rate\(mesh_sidecar_tls_handshakes_total\{/],
    ["denies by rule", /sum by \([^)]*\brule\b[^)]*\) \(rate\(mesh_sidecar_authz_decisions_total\{[^}]*decision="deny"/],
    ["audit denials per listener and rule", /sum by \((?=[^)]*\blistener\b)(?=[^)]*\brule\b)[^)]*\) \(rate\(mesh_sidecar_authz_decisions_total\{[^}]*decision="audit_deny"/],
    ["p99 handshake duration", /histogram_quantile\(0\.99, sum by \(le[^)]*\) \(rate\(mesh_sidecar_tls_handshake_duration_seconds_bucket/],
    ["SVID time to expiry", /mesh_sidecar_svid_expiry_timestamp_seconds\{[^}]*\}\) - time\(\)/],
    ["CA issuance by result", /sum by \([^)]*\bresult\b[^)]*\) \(rate\(mesh_ca_svid_requests_total\[/],
  ];

  it.each(required)("shows %s", (_what, expr) => {
    expect(exprs().some((e) => expr.test(e))).toBe(true);
  });

  it("has a unique id per panel and queries through the data-source variable", () => {
    const panels = allPanels(dashboard.panels) as (Panel & { id: number; datasource?: { uid?: string } })[];
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels.filter((x) => x.type !== "row")) expect(p.datasource?.uid, p.title).toBe("${datasource}");
  });
});

describe("scraping", () => {
  it("PodMonitor selects the example workloads' pods and their sidecar admin port", async () => {
    const shop = await renderKustomization("examples/shop");
    const pm = findObject(monitoring, "PodMonitor", "mesh-sidecar") as K8sObject & {
      spec: { selector: { matchLabels: Record<string, string> }; namespaceSelector: { any?: boolean }; podMetricsEndpoints: { port: string; path: string }[] };
    };
    expect(pm.spec.namespaceSelector.any).toBe(true);
    const deployments = shop.filter((o) => o.kind === "Deployment") as DeploymentLike[];
    expect(deployments.length).toBe(3);
    for (const d of deployments) {
      const labels = d.spec.template.metadata.labels;
      for (const [k, v] of Object.entries(pm.spec.selector.matchLabels)) expect(labels[k], `${d.metadata.name} label ${k}`).toBe(v);
      const sidecar = d.spec.template.spec.initContainers?.find((c) => c.name === "mesh-sidecar");
      const port = sidecar?.ports?.find((p) => p.name === pm.spec.podMetricsEndpoints[0]?.port);
      expect(port, `${d.metadata.name} sidecar port ${pm.spec.podMetricsEndpoints[0]?.port}`).toBeDefined();
      expect(d.spec.template.metadata.annotations?.["prometheus.io/port"]).toBe(String(port?.containerPort));
      expect(d.spec.template.metadata.annotations?.["prometheus.io/scrape"]).toBe("true");
    }
  });

  it("ServiceMonitor selects the CA metrics Service, whose port reaches the CA's admin port", async () => {
    const base = await renderKustomization("base");
    const sm = findObject(monitoring, "ServiceMonitor", "mesh-ca") as K8sObject & {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
    };
    const svc = findObject(monitoring, "Service", "mesh-ca-metrics") as K8sObject & {
      spec: { selector: Record<string, string>; ports: { name: string; targetPort: string | number }[] };
    };
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels?.[k]).toBe(v);
    const svcPort = svc.spec.ports.find((p) => p.name === sm.spec.endpoints[0]?.port);
    expect(svcPort).toBeDefined();
    const ca = findObject(base, "Deployment", "mesh-ca") as DeploymentLike;
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(ca.spec.template.metadata.labels[k]).toBe(v);
    const container = ca.spec.template.spec.containers[0];
    const target = container?.ports?.find((p) => p.name === svcPort?.targetPort || p.containerPort === svcPort?.targetPort);
    expect(target?.name).toBe("admin");
    expect(ca.spec.template.metadata.annotations?.["prometheus.io/port"]).toBe(String(target?.containerPort));
    expect(findObject(monitoring, "Service", "mesh-ca-metrics").metadata.namespace).toBe(ca.metadata.namespace);
  });

  it("the dashboard ConfigMap carries Grafana's sidecar label and a fixed name", () => {
    const cm = findConfigMap(monitoring, "mtls-mesh-dashboard");
    expect(cm.metadata.name).toBe("mtls-mesh-dashboard");
    expect(cm.metadata.labels?.grafana_dashboard).toBe("1");
  });
});

interface ContainerLike {
  name: string;
  ports?: { name?: string; containerPort: number }[];
}
interface DeploymentLike extends K8sObject {
  spec: {
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: { containers: ContainerLike[]; initContainers?: ContainerLike[] };
    };
  };
}

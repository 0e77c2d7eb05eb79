/**
 * What the issue asks of the manifests, checked on the rendered output:
 * mesh-ca's Deployment, Service, RBAC and disruption budget in base/, and the
 * native-sidecar workloads in examples/shop.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { findObject, renderKustomization, type K8sObject } from "./kustomize.js";
import { containerOf, resolvePort, selects, type Container, type Deployment, type PodSpec, type Service } from "./pods.js";

let base: K8sObject[];
let shop: K8sObject[];

beforeAll(async () => {
  base = await renderKustomization("base");
  shop = await renderKustomization("examples/shop");
});

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Hardening every container in this repo's pods has. */
function expectHardened(pod: PodSpec, c: Container, where: string): void {
  expect(pod.securityContext?.runAsNonRoot, `${where}: runAsNonRoot`).toBe(true);
  expect(pod.securityContext?.runAsUser ?? c.securityContext?.runAsUser, `${where}: numeric non-root user`).toBeGreaterThan(0);
  expect(pod.securityContext?.seccompProfile?.type, `${where}: seccomp`).toBe("RuntimeDefault");
  expect(c.securityContext?.readOnlyRootFilesystem, `${where}: read-only root`).toBe(true);
  expect(c.securityContext?.allowPrivilegeEscalation, `${where}: privilege escalation`).toBe(false);
  expect(c.securityContext?.capabilities?.drop, `${where}: capabilities`).toEqual(["ALL"]);
  expect(c.securityContext?.capabilities?.add ?? [], `${where}: added capabilities`).toEqual([]);
  expect(c.resources?.requests?.cpu, `${where}: cpu request`).toBeTruthy();
  expect(c.resources?.requests?.memory, `${where}: memory request`).toBeTruthy();
  expect(c.resources?.limits?.memory, `${where}: memory limit`).toBeTruthy();
}

describe("base: mesh-ca", () => {
  const ca = (): Deployment => findObject<Deployment>(base, "Deployment", "mesh-ca");

  it("lives in namespace mesh-system, which enforces the restricted Pod Security Standard", () => {
    const ns = findObject(base, "Namespace", "mesh-system");
    expect(ns.metadata.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    for (const o of base.filter((x) => !["Namespace", "ClusterRole", "ClusterRoleBinding"].includes(x.kind))) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe("mesh-system");
    }
  });

  it("runs two replicas that prefer different nodes", () => {
    const d = ca();
    expect(d.spec.replicas).toBe(2);
    const terms = d.spec.template.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(terms.length).toBeGreaterThan(0);
    const term = terms[0]?.podAffinityTerm;
    expect(term?.topologyKey).toBe("kubernetes.io/hostname");
    expect(selects(term?.labelSelector?.matchLabels ?? {}, d.spec.template.metadata.labels)).toBe(true);
  });

  it("probes readiness and liveness on the admin port", () => {
    const c = containerOf(ca(), "mesh-ca");
    expect(c.readinessProbe?.httpGet?.path).toBe("/readyz");
    expect(c.livenessProbe?.httpGet?.path).toBe("/healthz");
    expect(resolvePort(c, c.readinessProbe?.httpGet?.port)).toBe(9090);
    expect(resolvePort(c, c.livenessProbe?.httpGet?.port)).toBe(9090);
  });

  it("is hardened: non-root, read-only root filesystem, no capabilities, seccomp, resources", () => {
    const d = ca();
    expectHardened(d.spec.template.spec, containerOf(d, "mesh-ca"), "mesh-ca");
  });

  it("serves `mesh-ca serve --config` from the mesh-ca image", () => {
    const c = containerOf(ca(), "mesh-ca");
    expect(c.image).toMatch(/^mesh-ca:/);
    expect(c.command).toBeUndefined(); // the image's exec-form ENTRYPOINT runs node
    expect(c.args?.slice(0, 2)).toEqual(["serve", "--config"]);
  });

  it("has a Service for the API on 8443 that reaches the API port of its pods", () => {
    const d = ca();
    const svc = findObject<Service>(base, "Service", "mesh-ca");
    expect(selects(svc.spec.selector, d.spec.template.metadata.labels)).toBe(true);
    const port = svc.spec.ports.find((p) => p.port === 8443);
    expect(resolvePort(containerOf(d, "mesh-ca"), port?.targetPort)).toBe(8443);
  });

  it("runs as its own ServiceAccount, whose token it needs for TokenReview", () => {
    const d = ca();
    findObject(base, "ServiceAccount", "mesh-ca");
    expect(d.spec.template.spec.serviceAccountName).toBe("mesh-ca");
    expect(d.spec.template.spec.automountServiceAccountToken).not.toBe(false);
  });

  it("may create TokenReviews cluster-wide, and nothing else", () => {
    const role = findObject(base, "ClusterRole", "mesh-ca-tokenreview") as K8sObject & { rules: Rule[] };
    expect(role.rules).toEqual([{ apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] }]);
    const binding = findObject(base, "ClusterRoleBinding", "mesh-ca-tokenreview") as K8sObject & {
      roleRef: { kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    };
    expect(binding.roleRef).toMatchObject({ kind: "ClusterRole", name: "mesh-ca-tokenreview" });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "mesh-ca", namespace: "mesh-system" }]);
  });

  it("may read exactly the Secrets its pods mount, by name, and no others", () => {
    const role = findObject(base, "Role", "mesh-ca-secrets") as K8sObject & { rules: Rule[] };
    const mounted = (ca().spec.template.spec.volumes ?? []).flatMap((v) => (v.secret ? [v.secret.secretName] : []));
    expect(mounted.sort()).toEqual(["mesh-ca-join-tokens", "mesh-ca-signing"]);
    for (const rule of role.rules) {
      expect(rule.resourceNames, "every rule is limited by resourceNames").toBeDefined();
      expect(rule.verbs).toEqual(["get"]);
    }
    const secretRules = role.rules.filter((r) => r.resources.includes("secrets"));
    expect(secretRules.flatMap((r) => r.resourceNames ?? []).sort()).toEqual(mounted.sort());
    const binding = findObject(base, "RoleBinding", "mesh-ca-secrets") as K8sObject & { subjects: { name: string }[] };
    expect(binding.subjects.map((s) => s.name)).toEqual(["mesh-ca"]);
  });

  it("keeps one replica through voluntary disruptions", () => {
    const pdb = findObject(base, "PodDisruptionBudget", "mesh-ca") as K8sObject & {
      spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } };
    };
    expect(pdb.spec.minAvailable).toBe(1);
    expect(selects(pdb.spec.selector.matchLabels, ca().spec.template.metadata.labels)).toBe(true);
  });
});

describe("examples/shop: meshed workloads", () => {
  const deployments = (): Deployment[] => shop.filter((o): o is Deployment => o.kind === "Deployment");

  it("has frontend and orders, which may talk, and intruder, which may not", () => {
    expect(deployments().map((d) => d.metadata.name).sort()).toEqual(["frontend", "intruder", "orders"]);
    for (const o of shop.filter((x) => x.kind !== "Namespace")) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe("shop");
  });

  describe.each(["frontend", "orders", "intruder"])("%s", (name) => {
    const deployment = (): Deployment => findObject<Deployment>(shop, "Deployment", name);

    it("runs mesh-sidecar as a native sidecar whose startup probe waits for /readyz", () => {
      const d = deployment();
      const init = d.spec.template.spec.initContainers ?? [];
      expect(init[0]?.name, "the sidecar is the first init container").toBe("mesh-sidecar");
      const sidecar = containerOf(d, "mesh-sidecar");
      expect(sidecar.restartPolicy).toBe("Always");
      expect(sidecar.image).toMatch(/^mesh-sidecar:/);
      expect(sidecar.startupProbe?.httpGet?.path).toBe("/readyz");
      expect(resolvePort(sidecar, sidecar.startupProbe?.httpGet?.port)).toBe(15020);
      expect(resolvePort(sidecar, sidecar.readinessProbe?.httpGet?.port)).toBe(15020);
      expect(resolvePort(sidecar, sidecar.livenessProbe?.httpGet?.port)).toBe(15020);
    });

    it("mounts no API token, only a projected token for mesh-ca that lasts an hour", () => {
      const pod = deployment().spec.template.spec;
      expect(pod.automountServiceAccountToken).toBe(false);
      const sa = findObject(shop, "ServiceAccount", pod.serviceAccountName ?? "default");
      expect((sa as K8sObject & { automountServiceAccountToken?: boolean }).automountServiceAccountToken).toBe(false);
      const tokens = (pod.volumes ?? []).flatMap((v) => v.projected?.sources.flatMap((s) => (s.serviceAccountToken ? [s.serviceAccountToken] : [])) ?? []);
      expect(tokens).toEqual([{ audience: "mesh-ca", expirationSeconds: 3600, path: "mesh-ca" }]);
    });

    it("mounts every ConfigMap as a directory, never with subPath, so updates (policy hot reload) reach the pod", () => {
      const pod = deployment().spec.template.spec;
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        for (const m of c.volumeMounts ?? []) expect(m.subPath, `${c.name}: ${m.mountPath}`).toBeUndefined();
      }
      const names = (pod.volumes ?? []).flatMap((v) => (v.configMap ? [v.configMap.name] : []));
      expect(names).toEqual(expect.arrayContaining([`${name}-policy`, "mesh-trust-bundle"]));
      expect(names.some((n) => n.startsWith(`${name}-sidecar`))).toBe(true);
    });

    it("has a Service whose only port targets the sidecar's inbound port", () => {
      const d = deployment();
      const svc = findObject<Service>(shop, "Service", name);
      expect(selects(svc.spec.selector, d.spec.template.metadata.labels)).toBe(true);
      expect(svc.spec.ports.length).toBe(1);
      expect(resolvePort(containerOf(d, "mesh-sidecar"), svc.spec.ports[0]?.targetPort)).toBe(15006);
    });

    it("hardens both the sidecar and the app", () => {
      const d = deployment();
      for (const c of [containerOf(d, "mesh-sidecar"), containerOf(d, "app")]) expectHardened(d.spec.template.spec, c, `${name}/${c.name}`);
    });

    it("gives the app no port of its own on the pod IP", () => {
      const app = containerOf(deployment(), "app");
      expect(app.ports ?? []).toEqual([]);
      expect(app.env?.find((e) => e.name === "LISTEN")?.value).toMatch(/^127\.0\.0\.1:/);
    });
  });
});

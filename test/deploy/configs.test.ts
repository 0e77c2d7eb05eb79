/**
 * The config files inside the ConfigMaps parse with the programs' own
 * loaders (so deploy files and code cannot drift apart), with the environment
 * the pod gives them, and agree with the pod specs around them: every file
 * they name is mounted, every port they listen on is the one the probes,
 * Services and scrapers use, every peer they expect is who is really there.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { loadCaConfig, type CaConfig } from "../../ca/config.js";
import { IdPattern } from "../../lib/spiffe/pattern.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { loadSidecarConfig, type SidecarConfig } from "../../sidecar/config.js";
import { loadPolicy, type Policy } from "../../sidecar/policy/policy.js";
import { findConfigMap, findObject, renderKustomization, type K8sObject } from "./kustomize.js";
import { containerEnv, containerOf, mountedFile, resolvePort, selects, type Container, type Deployment, type Service } from "./pods.js";

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

let base: K8sObject[];
let shop: K8sObject[];

beforeAll(async () => {
  base = await renderKustomization("base");
  shop = await renderKustomization("examples/shop");
});

/** The file `--config FILE` names in a container's args. */
function configArg(c: Container): string {
  const args = c.args ?? [];
  const at = args.indexOf("--config");
  const file = at < 0 ? undefined : args[at + 1];
  if (!file) throw new Error(`${c.name}: no --config FILE in args ${JSON.stringify(args)}`);
  return file;
}

/** The text of a file that a ConfigMap volume provides, by its path in the container. */
function configMapFile(objects: readonly K8sObject[], d: Deployment, c: Container, file: string): string {
  const mounted = mountedFile(d, c, file);
  const name = mounted?.volume.configMap?.name;
  if (!mounted || !name) throw new Error(`${d.metadata.name}/${c.name}: ${file} is not in a mounted ConfigMap`);
  const text = findConfigMap(objects, name).data[mounted.key];
  if (text === undefined) throw new Error(`ConfigMap ${name} has no key ${mounted.key} (for ${file})`);
  return text;
}

/** Fails unless `file` is provided to container `c` by a volume (or by the service-account automount). */
function expectMounted(d: Deployment, c: Container, file: string, what: string): ReturnType<typeof mountedFile> {
  if (file.startsWith(`${SERVICE_ACCOUNT_DIR}/`)) {
    expect(d.spec.template.spec.automountServiceAccountToken, `${what}: ${file} needs the service-account automount`).not.toBe(false);
    return undefined;
  }
  const mounted = mountedFile(d, c, file);
  expect(mounted, `${what}: ${file} is on no volume of ${d.metadata.name}/${c.name}`).toBeDefined();
  return mounted;
}

describe("mesh-ca's ca.yaml (base)", () => {
  let d: Deployment;
  let c: Container;
  let config: CaConfig;

  beforeAll(() => {
    d = findObject<Deployment>(base, "Deployment", "mesh-ca");
    c = containerOf(d, "mesh-ca");
    const file = configArg(c);
    config = loadCaConfig(configMapFile(base, d, c, file), file, containerEnv(d, c));
  });

  it("parses with mesh-ca's own loader, in the pod's environment", () => {
    expect(config.trustDomain.toString()).toBe("example.org");
    expect(config.attestation.kubernetes?.mode).toBe("tokenReview");
    expect(config.attestation.kubernetes?.audience).toBe("mesh-ca");
    expect(config.attestation.kubernetes?.tokenReview?.apiServer.href).toBe("https://10.96.0.1/");
  });

  it("listens on the pod's API and admin ports", () => {
    expect(config.listen).toEqual({ host: "0.0.0.0", port: resolvePort(c, "api") });
    expect(config.admin).toEqual({ host: "0.0.0.0", port: resolvePort(c, "admin") });
  });

  it("reads the signing key, certificate and bundle from the signing Secret, and the join tokens from theirs", () => {
    const secretOf = (file: string): string | undefined => expectMounted(d, c, file, "ca.yaml")?.volume.secret?.secretName;
    for (const file of [config.signing.certFile, config.signing.keyFile, config.signing.bundleFile]) expect(secretOf(file)).toBe("mesh-ca-signing");
    expect(secretOf(config.attestation.joinTokens?.storeFile ?? "")).toBe("mesh-ca-join-tokens");
    const tokenReview = config.attestation.kubernetes?.tokenReview;
    expectMounted(d, c, tokenReview?.tokenFile ?? "", "tokenReview.tokenFile");
    expectMounted(d, c, tokenReview?.caFile ?? "", "tokenReview.caFile");
  });

  it("serves a certificate for the name sidecars use to reach the Service", () => {
    const svc = findObject<Service>(base, "Service", "mesh-ca");
    expect(config.serverNames.dnsNames).toContain(`${svc.metadata.name}.${svc.metadata.namespace}.svc`);
  });

  it("finishes in-flight requests before the kubelet kills the pod", () => {
    expect(config.shutdownGraceMs).toBeLessThan((d.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000);
  });
});

describe.each(["frontend", "orders", "intruder"])("examples/shop: %s's sidecar.yaml and policy", (name) => {
  let d: Deployment;
  let sidecar: Container;
  let app: Container;
  let config: SidecarConfig;
  let policy: Policy;
  let ca: CaConfig;

  beforeAll(() => {
    d = findObject<Deployment>(shop, "Deployment", name);
    sidecar = containerOf(d, "mesh-sidecar");
    app = containerOf(d, "app");
    const file = configArg(sidecar);
    config = loadSidecarConfig(configMapFile(shop, d, sidecar, file), file, containerEnv(d, sidecar));
    const policyFile = config.policyFile ?? "";
    policy = loadPolicy(configMapFile(shop, d, sidecar, policyFile), policyFile);
    const caDeployment = findObject<Deployment>(base, "Deployment", "mesh-ca");
    const caContainer = containerOf(caDeployment, "mesh-ca");
    ca = loadCaConfig(configMapFile(base, caDeployment, caContainer, configArg(caContainer)), configArg(caContainer), containerEnv(caDeployment, caContainer));
  });

  it("parses with mesh-sidecar's own loaders, without warnings", () => {
    expect(config.warnings).toEqual([]);
    expect(policy.listeners.length).toBeGreaterThan(0);
  });

  it("is in the CA's trust domain and expects exactly this pod's SPIFFE ID", () => {
    expect(config.trustDomain.toString()).toBe(ca.trustDomain.toString());
    expect(config.ca.expectedId?.toString()).toBe(`spiffe://${ca.trustDomain}/ns/shop/sa/${d.spec.template.spec.serviceAccountName}`);
  });

  it("reaches mesh-ca by a name in its serving certificate, on its Service port", () => {
    const svc = findObject<Service>(base, "Service", "mesh-ca");
    expect(ca.serverNames.dnsNames).toContain(config.ca.url.hostname);
    expect(config.ca.url.hostname.startsWith(`${svc.metadata.name}.${svc.metadata.namespace}.`)).toBe(true);
    expect(svc.spec.ports.map((p) => p.port)).toContain(Number(config.ca.url.port));
  });

  it("authenticates with the projected mesh-ca token and trusts the mesh-trust-bundle ConfigMap", () => {
    const token = expectMounted(d, sidecar, config.ca.tokenFile ?? "", "ca.tokenFile");
    const source = token?.volume.projected?.sources.find((s) => s.serviceAccountToken?.path === token.key)?.serviceAccountToken;
    expect(source?.audience).toBe(ca.attestation.kubernetes?.audience);
    const bundle = expectMounted(d, sidecar, config.ca.bundleFile, "ca.bundleFile");
    expect(bundle?.volume.configMap?.name).toBe("mesh-trust-bundle");
    expect(bundle?.key).toBe("bundle.pem");
  });

  it("reads its policy from its own policy ConfigMap, mounted as a directory", () => {
    const mounted = expectMounted(d, sidecar, config.policyFile ?? "", "policyFile");
    expect(mounted?.volume.configMap?.name).toBe(`${name}-policy`);
    expect(mounted?.subPath).toBeUndefined();
  });

  it("has a policy entry for every inbound listener and for no other", () => {
    expect(policy.listeners.sort()).toEqual(config.inbound.map((l) => l.name).sort());
  });

  it("listens where the pod spec, Service and probes expect, and forwards to where the app listens", () => {
    const svc = findObject<Service>(shop, "Service", name);
    const inbound = config.inbound[0];
    expect(config.inbound.length).toBe(1);
    expect(inbound?.listen).toEqual({ host: "0.0.0.0", port: resolvePort(sidecar, svc.spec.ports[0]?.targetPort) });
    expect(config.admin).toEqual({ host: "0.0.0.0", port: resolvePort(sidecar, sidecar.startupProbe?.httpGet?.port) });
    expect(`${inbound?.forward.host}:${inbound?.forward.port}`).toBe(app.env?.find((e) => e.name === "LISTEN")?.value);
  });

  it("drains before the kubelet kills the pod", () => {
    expect(config.limits.drainGraceMs).toBeLessThan((d.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000);
  });

  it("sends the app's peer calls to an outbound listener on loopback, whose upstream is the Service of the peer it expects", () => {
    const peerUrl = app.env?.find((e) => e.name === "PEER_URL")?.value;
    if (peerUrl === undefined) {
      expect(config.outbound).toEqual([]);
      return;
    }
    const url = new URL(peerUrl);
    const outbound = config.outbound.find((o) => o.listen.port === Number(url.port));
    expect(outbound?.listen.host).toBe(url.hostname);
    expect(url.hostname).toBe("127.0.0.1");
    const [svcName, svcNamespace] = outbound?.upstream.host.split(".") ?? [];
    const svc = findObject<Service>(shop, "Service", svcName ?? "");
    expect(svc.metadata.namespace).toBe(svcNamespace);
    expect(svc.spec.ports.map((p) => p.port)).toContain(outbound?.upstream.port);
    const peer = shop.find((o): o is Deployment => o.kind === "Deployment" && selects(svc.spec.selector, (o as Deployment).spec.template.metadata.labels));
    const peerId = SpiffeId.parse(`spiffe://${ca.trustDomain}/ns/${peer?.metadata.namespace}/sa/${peer?.spec.template.spec.serviceAccountName}`);
    expect(outbound?.expectedPeer.matches(peerId)).toBe(true);
    expect(outbound?.expectedPeer).toBeInstanceOf(IdPattern);
  });
});

describe("examples/shop: who may talk to whom", () => {
  let orders: Policy;
  const id = (sa: string): string => `spiffe://example.org/ns/shop/sa/${sa}`;

  beforeAll(() => {
    orders = loadPolicy(findConfigMap(shop, "orders-policy").data["policy.yaml"] ?? "", "orders/policy.yaml");
  });

  it("orders accepts frontend", () => {
    expect(orders.decide("http", id("frontend")).decision).toBe("allow");
  });

  it("orders refuses intruder, by default", () => {
    expect(orders.decide("http", id("intruder"))).toEqual({ decision: "deny", rule: "default" });
  });

  it("intruder and frontend accept no one from shop", () => {
    for (const workload of ["intruder", "frontend"]) {
      const policy = loadPolicy(findConfigMap(shop, `${workload}-policy`).data["policy.yaml"] ?? "", `${workload}/policy.yaml`);
      for (const caller of ["frontend", "orders", "intruder"]) expect(policy.decide("http", id(caller)).decision, `${caller} -> ${workload}`).toBe("deny");
    }
  });
});

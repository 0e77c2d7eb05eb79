/**
 * docs/deploy.md ("Deploy on Kubernetes") agrees with what it deploys: the
 * paths it applies exist, the Secrets and ConfigMap it tells you to create
 * are the ones the pods mount, with the keys the configs read, the images it
 * builds are the ones the manifests run, and every alert is explained.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadCaConfig } from "../../ca/config.js";
import { loadSidecarConfig } from "../../sidecar/config.js";
import { parseDockerfile } from "./dockerfile.js";
import { findConfigMap, findObject, renderKustomization, REPO, type K8sObject } from "./kustomize.js";
import { containerEnv, containerOf, mountedFile, type Container, type Deployment } from "./pods.js";

const guide = readFileSync(join(REPO, "docs/deploy.md"), "utf8");

/** Shell commands from the guide's ```sh blocks, continuation lines joined. */
const commands: string[] = [...guide.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
  (m[1] as string)
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("#")),
);

/** `--flag=value` / `--flag value` / `-n value` of a command. */
function flag(command: string, name: string): string | undefined {
  return new RegExp(`(?:^|\\s)${name}(?:=|\\s+)(\\S+)`).exec(command)?.[1];
}

function fromFileKeys(command: string): string[] {
  return [...command.matchAll(/--from-file=([^=\s]+)=/g)].map((m) => m[1] as string);
}

let base: K8sObject[];
let shop: K8sObject[];
let monitoring: K8sObject[];

beforeAll(async () => {
  [base, shop, monitoring] = await Promise.all([renderKustomization("base"), renderKustomization("examples/shop"), renderKustomization("monitoring")]);
});

function configOf(objects: readonly K8sObject[], d: Deployment, c: Container): string {
  const args = c.args ?? [];
  const file = args[args.indexOf("--config") + 1] as string;
  const mounted = mountedFile(d, c, file);
  return findConfigMap(objects, mounted?.volume.configMap?.name ?? "").data[mounted?.key ?? ""] ?? "";
}

it("has the steps as shell commands", () => {
  expect(commands.length).toBeGreaterThan(15);
});

it("applies only paths that exist", () => {
  const applied = commands.filter((c) => c.startsWith("kubectl apply")).map((c) => flag(c, "-k") ?? flag(c, "-f"));
  expect(applied).toEqual(expect.arrayContaining(["deploy/kubernetes/base", "deploy/kubernetes/examples/shop", "deploy/kubernetes/monitoring"]));
  for (const path of applied.filter((p) => p !== "-")) expect(existsSync(join(REPO, path ?? "")), path).toBe(true);
});

describe("the Secrets it creates", () => {
  const secrets = (): Map<string, string[]> =>
    new Map(
      commands
        .filter((c) => c.startsWith("kubectl") && / create secret generic /.test(c) && !c.includes("--dry-run"))
        .map((c) => [/create secret generic (\S+)/.exec(c)?.[1] as string, fromFileKeys(c)]),
    );

  it("are the ones mesh-ca mounts, in its namespace", () => {
    const ca = findObject<Deployment>(base, "Deployment", "mesh-ca");
    const mounted = (ca.spec.template.spec.volumes ?? []).flatMap((v) => (v.secret ? [v.secret.secretName] : []));
    expect([...secrets().keys()].sort()).toEqual(mounted.sort());
    for (const c of commands.filter((x) => / create secret generic /.test(x))) expect(flag(c, "-n"), c).toBe(ca.metadata.namespace);
  });

  it("hold exactly the files ca.yaml reads from each of them", () => {
    const d = findObject<Deployment>(base, "Deployment", "mesh-ca");
    const c = containerOf(d, "mesh-ca");
    const config = loadCaConfig(configOf(base, d, c), "/etc/mesh-ca/config/ca.yaml", containerEnv(d, c));
    const files = [config.signing.certFile, config.signing.keyFile, config.signing.bundleFile, config.attestation.joinTokens?.storeFile ?? ""];
    const read = new Map<string, string[]>();
    for (const file of files) {
      const secret = mountedFile(d, c, file)?.volume.secret?.secretName ?? "(not a Secret)";
      read.set(secret, [...(read.get(secret) ?? []), basename(file)]);
    }
    for (const [name, keys] of secrets()) expect(keys.sort(), name).toEqual((read.get(name) ?? []).sort());
  });
});

it("creates the trust bundle ConfigMap the sidecars mount, with the key they read, in the workloads' namespace", () => {
  const command = commands.find((c) => / create configmap mesh-trust-bundle /.test(c));
  expect(command).toBeDefined();
  const d = findObject<Deployment>(shop, "Deployment", "orders");
  const c = containerOf(d, "mesh-sidecar");
  const config = loadSidecarConfig(configOf(shop, d, c), "/etc/mesh-sidecar/sidecar.yaml", containerEnv(d, c));
  const mounted = mountedFile(d, c, config.ca.bundleFile);
  expect(mounted?.volume.configMap?.name).toBe("mesh-trust-bundle");
  expect(fromFileKeys(command ?? "")).toEqual([mounted?.key]);
  expect(flag(command ?? "", "-n")).toBe(d.metadata.namespace);
});

it("builds, under the names the manifests run, the images of the Dockerfile's targets", () => {
  const stages = parseDockerfile(readFileSync(join(REPO, "deploy/docker/Dockerfile"), "utf8")).map((s) => s.name);
  const builds = commands.filter((c) => c.startsWith("docker build"));
  const built = builds.map((c) => {
    expect(stages).toContain(flag(c, "--target"));
    expect(flag(c, "-f")).toBe("deploy/docker/Dockerfile");
    expect(c.endsWith(" .")).toBe(true);
    return flag(c, "-t");
  });
  const images = [
    containerOf(findObject<Deployment>(base, "Deployment", "mesh-ca"), "mesh-ca").image,
    containerOf(findObject<Deployment>(shop, "Deployment", "orders"), "mesh-sidecar").image,
  ];
  expect(built.sort()).toEqual(images.sort());
  const loaded = commands.find((c) => c.startsWith("kind load docker-image"));
  for (const image of images) expect(loaded).toContain(image);
});

it("explains every alert", () => {
  const rule = findObject(monitoring, "PrometheusRule", "mtls-mesh") as K8sObject & { spec: { groups: { rules: { alert?: string }[] }[] } };
  for (const g of rule.spec.groups) for (const r of g.rules) expect(guide, r.alert).toContain(`\`${r.alert}\``);
});

it("holds no key or token", () => {
  expect(guide).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
  expect(guide).not.toMatch(/meshjt_[A-Za-z0-9_-]{8,}/);
});

/**
 * Renders the Kustomize trees under deploy/kubernetes with the real
 * `kubectl kustomize` and parses the output. A missing kubectl is a failure
 * with instructions, never a skip. KUBECTL may name another binary (e.g. an
 * older kubectl, to check the kustomizations still render with kustomize v2).
 */
import { execFile } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";

const run = promisify(execFile);

/** The repository root. */
export const REPO = fileURLToPath(new URL("../..", import.meta.url));
/** deploy/kubernetes. */
export const KUBERNETES_DIR = join(REPO, "deploy/kubernetes");

/** A rendered Kubernetes object: plain data, as `kubectl apply` would send it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** Every directory under deploy/kubernetes holding a kustomization.yaml, relative to it (e.g. "base", "examples/shop"). */
export function findKustomizations(root: string = KUBERNETES_DIR): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (entry === "kustomization.yaml") found.push(relative(root, dir));
    }
  };
  walk(root);
  return found.sort();
}

const rendered = new Map<string, Promise<K8sObject[]>>();

/** `kubectl kustomize DIR`, parsed into objects (a fresh copy per call). Throws with kubectl's own message when it fails. */
export async function renderKustomization(dir: string): Promise<K8sObject[]> {
  let objects = rendered.get(dir);
  if (!objects) {
    objects = render(dir);
    rendered.set(dir, objects);
  }
  return structuredClone(await objects);
}

async function render(dir: string): Promise<K8sObject[]> {
  const kubectl = process.env.KUBECTL ?? "kubectl";
  let stdout: string;
  try {
    ({ stdout } = await run(kubectl, ["kustomize", join(KUBERNETES_DIR, dir)], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") {
      throw new Error(
        `${kubectl} not found: the deploy tests render the manifests with \`kubectl kustomize\`. ` +
          "Install kubectl (Debian: apt-get install kubernetes-client; .ci/run does this) or set KUBECTL to its path.",
      );
    }
    throw new Error(`${kubectl} kustomize ${dir} failed: ${e.stderr?.trim() || e.message}`);
  }
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(stdout)) {
    if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir} printed YAML that does not parse: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as unknown;
    if (value !== null) objects.push(value as K8sObject);
  }
  return objects;
}

/** The one object of this kind and name; fails the test naming what is missing. */
export function findObject<T extends K8sObject = K8sObject>(objects: readonly K8sObject[], kind: string, name: string): T {
  const matches = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (matches.length !== 1) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ");
    throw new Error(`expected exactly one ${kind}/${name}, found ${matches.length} among: ${have}`);
  }
  return matches[0] as T;
}

/** The ConfigMap whose name is `name`, or `name-<hash>` as configMapGenerator writes it. */
export function findConfigMap(objects: readonly K8sObject[], name: string): K8sObject & { data: Record<string, string> } {
  const matches = objects.filter((o) => o.kind === "ConfigMap" && (o.metadata.name === name || new RegExp(`^${name}-[a-z0-9]{10}$`).test(o.metadata.name)));
  if (matches.length !== 1) throw new Error(`expected exactly one ConfigMap ${name}, found ${matches.length}`);
  return matches[0] as K8sObject & { data: Record<string, string> };
}

/**
 * Reading rendered Deployments the way the kubelet would: which container
 * port a probe or Service port names, which volume and key a file path in a
 * mounted config lands on, and what environment a container starts with.
 */
import type { K8sObject } from "./kustomize.js";

/** The parts of a container the deploy tests look at. */
export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  restartPolicy?: string;
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    runAsUser?: number;
    capabilities?: { drop?: string[]; add?: string[] };
  };
}

/** An HTTP probe. */
export interface Probe {
  httpGet?: { path: string; port: string | number };
}

/** A pod volume. */
export interface Volume {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string };
  projected?: { sources: { serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string } }[] };
}

/** A pod spec. */
export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  affinity?: {
    podAntiAffinity?: {
      preferredDuringSchedulingIgnoredDuringExecution?: { podAffinityTerm: AffinityTerm }[];
      requiredDuringSchedulingIgnoredDuringExecution?: AffinityTerm[];
    };
  };
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
}

interface AffinityTerm {
  topologyKey: string;
  labelSelector?: { matchLabels?: Record<string, string> };
}

/** A rendered Deployment. */
export interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}

/** A rendered Service. */
export interface Service extends K8sObject {
  spec: { selector: Record<string, string>; ports: { name?: string; port: number; targetPort?: string | number }[] };
}

/** The container (regular or init) of this name; fails naming the pod when absent. */
export function containerOf(d: Deployment, name: string): Container {
  const spec = d.spec.template.spec;
  const found = [...spec.containers, ...(spec.initContainers ?? [])].find((c) => c.name === name);
  if (!found) throw new Error(`Deployment ${d.metadata.name} has no container ${name}`);
  return found;
}

/** The container port a probe, Service targetPort or annotation refers to, by name or number. */
export function resolvePort(c: Container, port: string | number | undefined): number | undefined {
  if (typeof port === "number") return c.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

/** Whether the selector picks out these labels. */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * The environment a container starts with: its `env` with downward-API
 * fields filled in as the kubelet would, plus the variables the kubelet adds
 * to every container.
 */
export function containerEnv(d: Deployment, c: Container): NodeJS.ProcessEnv {
  const fields: Record<string, string | undefined> = {
    "metadata.namespace": d.metadata.namespace,
    "metadata.name": `${d.metadata.name}-7d9f8c6b5-x2x4q`,
    "spec.serviceAccountName": d.spec.template.spec.serviceAccountName ?? "default",
    "spec.nodeName": "node-1",
    "status.podIP": "10.244.1.17",
    "status.hostIP": "172.18.0.2",
  };
  const env: NodeJS.ProcessEnv = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
  for (const e of c.env ?? []) {
    const path = e.valueFrom?.fieldRef?.fieldPath;
    const value = path === undefined ? e.value : fields[path];
    if (value === undefined) throw new Error(`${d.metadata.name}/${c.name}: env ${e.name} has no value the test can fill in`);
    env[e.name] = value;
  }
  return env;
}

/** Where an absolute file path inside a container comes from: the mounted volume and the key within it. */
export interface MountedFile {
  readonly volume: Volume;
  readonly key: string;
  readonly subPath?: string;
}

/** The volume (and key in it) that provides `file` in container `c`, or undefined when nothing mounted covers it. */
export function mountedFile(d: Deployment, c: Container, file: string): MountedFile | undefined {
  const mounts = (c.volumeMounts ?? []).filter((m) => file === m.mountPath || file.startsWith(`${m.mountPath.replace(/\/$/, "")}/`));
  const mount = mounts.sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) return undefined;
  const volume = d.spec.template.spec.volumes?.find((v) => v.name === mount.name);
  if (!volume) throw new Error(`${d.metadata.name}/${c.name}: volumeMount ${mount.name} has no volume`);
  const key = file === mount.mountPath ? (mount.subPath ?? "") : file.slice(mount.mountPath.replace(/\/$/, "").length + 1);
  return { volume, key, ...(mount.subPath === undefined ? {} : { subPath: mount.subPath }) };
}

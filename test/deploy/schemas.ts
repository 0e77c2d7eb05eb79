/**
 * Validates rendered objects against the Kubernetes and Prometheus Operator
 * schemas that kubernetes-models and @kubernetes-models/prometheus-operator
 * ship, and adds the strict check those packages leave out: their validators
 * accept any key a schema does not declare, so a misspelt field
 * (`readOnlyRootFilesytem`) would pass and then be dropped by the API server.
 *
 * The strict check watches the package's own compiled validator at work: the
 * object is handed to it behind a Proxy that records, for every nested
 * object, which keys the validator looked up. A validator generated from a
 * schema with `properties` looks up each declared property, and one for a
 * map (`additionalProperties`) walks its keys. So a key that was never looked
 * up, in an object that was not walked as a map, is not in the schema. An
 * object the validator never looked into at all is reported too: the schema
 * says nothing about its content.
 */
import * as admissionregistrationV1 from "kubernetes-models/admissionregistration.k8s.io/v1";
import * as appsV1 from "kubernetes-models/apps/v1";
import * as autoscalingV2 from "kubernetes-models/autoscaling/v2";
import * as batchV1 from "kubernetes-models/batch/v1";
import * as networkingV1 from "kubernetes-models/networking.k8s.io/v1";
import * as policyV1 from "kubernetes-models/policy/v1";
import * as rbacV1 from "kubernetes-models/rbac.authorization.k8s.io/v1";
import * as coreV1 from "kubernetes-models/v1";
import * as monitoringV1 from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import type { K8sObject } from "./kustomize.js";

/** Modules of model classes by apiVersion; each exports one class per kind. */
const MODELS: Readonly<Record<string, object>> = {
  v1: coreV1,
  "apps/v1": appsV1,
  "batch/v1": batchV1,
  "policy/v1": policyV1,
  "autoscaling/v2": autoscalingV2,
  "networking.k8s.io/v1": networkingV1,
  "rbac.authorization.k8s.io/v1": rbacV1,
  "admissionregistration.k8s.io/v1": admissionregistrationV1,
  "monitoring.coreos.com/v1": monitoringV1,
};

interface ModelClass {
  new (data: unknown): { validate(): void };
  prototype: { validate(this: unknown): void };
}

function modelFor(apiVersion: string, kind: string): ModelClass {
  const module = MODELS[apiVersion] as Record<string, unknown> | undefined;
  const model = module?.[kind];
  if (typeof model !== "function" || typeof (model as Partial<ModelClass>).prototype?.validate !== "function") {
    throw new Error(`no schema known for ${apiVersion} ${kind}: add its kubernetes-models module to test/deploy/schemas.ts`);
  }
  return model as ModelClass;
}

/** What the validator did with one object. */
interface Visit {
  readonly read: Set<string>;
  walked: boolean;
}

/**
 * Runs the package validator on `object`. Returns every problem found, as
 * `path: message` lines: schema violations first, then keys no schema declares.
 */
export function validateObject(object: K8sObject): string[] {
  const where = `${object.kind}/${object.metadata?.name ?? "?"}`;
  let model: ModelClass;
  try {
    model = modelFor(object.apiVersion, object.kind);
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
  const visits = new WeakMap<object, Visit>();
  try {
    // The package's own check, as documented...
    new model(object).validate();
    // ...and the same compiled validator once more, watched: validate() hands `this` to it as is.
    model.prototype.validate.call(watch(object, visits));
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
  return unknownKeys(object, visits, "").map((line) => `${where}: ${line}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** Wraps `value` (deeply, on access) so that visits record what the validator reads. */
function watch(value: unknown, visits: WeakMap<object, Visit>): unknown {
  if (!isObject(value)) return value;
  const visit: Visit = visits.get(value) ?? { read: new Set(), walked: false };
  visits.set(value, visit);
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === "string") visit.read.add(key);
      return watch(Reflect.get(target, key, receiver), visits);
    },
    has(target, key) {
      if (typeof key === "string") visit.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      visit.walked = true;
      return Reflect.ownKeys(target);
    },
  });
}

function unknownKeys(value: unknown, visits: WeakMap<object, Visit>, path: string): string[] {
  if (!isObject(value)) return [];
  if (Array.isArray(value)) return value.flatMap((item, i) => unknownKeys(item, visits, `${path}[${i}]`));
  const visit = visits.get(value);
  const keys = Object.keys(value);
  const problems: string[] = [];
  if (!visit || (visit.read.size === 0 && !visit.walked)) {
    if (keys.length > 0) problems.push(`${path || "(root)"}: the schema does not describe this object's keys (${keys.join(", ")})`);
    return problems;
  }
  for (const key of keys) {
    const child = path === "" ? key : `${path}.${key}`;
    if (!visit.walked && !visit.read.has(key)) problems.push(`${child}: unknown field (not in the schema)`);
    else problems.push(...unknownKeys(value[key], visits, child));
  }
  return problems;
}

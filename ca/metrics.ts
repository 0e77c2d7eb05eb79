/**
 * mesh-ca's Prometheus metrics. The names and labels are public API
 * (docs/ca.md lists them): dashboards and alerts in deploy/ use them.
 * One Registry per program, passed in; no global default registry.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { registerProcessMetrics } from "../lib/admin/process-metrics.js";
import { ROTATION_STATES, ROTATION_STEPS } from "./rotation/rotation-record.js";

/** How a caller authenticated (label `method`): one per Attestor of ca/attest/attestors.ts. */
export const ISSUANCE_METHODS = ["kubernetes", "join_token", "renewal"] as const;
export type IssuanceMethod = (typeof ISSUANCE_METHODS)[number];

/** Outcome of an SVID request (label `result`). */
export const ISSUANCE_RESULTS = ["issued", "unauthenticated", "forbidden", "invalid_csr", "rate_limited", "error"] as const;
export type IssuanceResult = (typeof ISSUANCE_RESULTS)[number];

/** Codes of the API's answers to requests refused before they were parsed (label `code` of mesh_ca_http_refusals_total). */
export const HTTP_REFUSAL_CODES = ["HEADERS_TOO_LARGE", "MALFORMED_REQUEST", "REQUEST_TIMEOUT"] as const;
export type HttpRefusalCode = (typeof HTTP_REFUSAL_CODES)[number];

/** Outcome of a reload of the signing material (label `result`). */
export const RELOAD_RESULTS = ["ok", "error"] as const;
export type ReloadResult = (typeof RELOAD_RESULTS)[number];

/** Steps that can be waiting to become safe (label `step` of the safe-time gauge). */
export const WAITING_STEPS = ["activate", "retire"] as const;

/** The CA's metrics, registered in one registry. */
export interface CaMetrics {
  readonly registry: Registry;
  readonly svidRequests: Counter<"method" | "result">;
  readonly signDuration: Histogram;
  readonly signingCertExpiry: Gauge;
  readonly rootExpiry: Gauge;
  /** Requests refused by the HTTP layer, before routing (server/client-errors.ts). */
  readonly httpRefusals: Counter<"code">;
  readonly reloads: Counter<"result">;
  readonly bundleRoots: Gauge;
  readonly bundleSequence: Gauge;
  readonly rotationState: Gauge<"state">;
  readonly rotationStepTime: Gauge<"step">;
  readonly rotationSafeTime: Gauge<"step">;
}

/** Creates the metrics in `registry` (a new one by default), with every method×result pair at 0. */
export function createCaMetrics(registry: Registry = new Registry(), { processMetrics = true } = {}): CaMetrics {
  if (processMetrics) registerProcessMetrics(registry);
  const svidRequests = new Counter({
    name: "mesh_ca_svid_requests_total",
    help: "SVID requests by authentication method and result.",
    labelNames: ["method", "result"] as const,
    registers: [registry],
  });
  // Pre-initialised so rate() and alerts see every series from the first scrape.
  for (const method of ISSUANCE_METHODS) for (const result of ISSUANCE_RESULTS) svidRequests.inc({ method, result }, 0);
  const signDuration = new Histogram({
    name: "mesh_ca_svid_sign_duration_seconds",
    help: "Time to build and sign one SVID (after authentication and CSR verification).",
    // Signing takes tens of microseconds; the upper buckets catch a starved event loop.
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
    registers: [registry],
  });
  const signingCertExpiry = new Gauge({
    name: "mesh_ca_signing_cert_expiry_timestamp_seconds",
    help: "notAfter of the signing certificate, as a Unix timestamp.",
    registers: [registry],
  });
  const rootExpiry = new Gauge({
    name: "mesh_ca_root_expiry_timestamp_seconds",
    help: "Earliest notAfter among the published trust bundle's roots, as a Unix timestamp.",
    registers: [registry],
  });
  const httpRefusals = new Counter({
    name: "mesh_ca_http_refusals_total",
    help: "API requests refused before they were parsed (oversized headers, malformed HTTP, too slow), by the code of the answer.",
    labelNames: ["code"] as const,
    registers: [registry],
  });
  for (const code of HTTP_REFUSAL_CODES) httpRefusals.inc({ code }, 0);
  const reloads = new Counter({
    name: "mesh_ca_reloads_total",
    help: "Reloads of the signing material after a change of its files: ok (the new set is in force) or error (refused whole; the previous set stays).",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  for (const result of RELOAD_RESULTS) reloads.inc({ result }, 0);
  const bundleRoots = new Gauge({
    name: "mesh_ca_trust_bundle_roots",
    help: "Roots in the published trust bundle (2 between rotate prepare and rotate retire).",
    registers: [registry],
  });
  const bundleSequence = new Gauge({
    name: "mesh_ca_trust_bundle_sequence",
    help: "spiffe_sequence of the published trust bundle; goes up by one each time its roots change.",
    registers: [registry],
  });
  const rotationState = new Gauge({
    name: "mesh_ca_rotation_state",
    help: "1 for the state the CA directory's rotation is in (idle, prepared, activated), 0 for the others.",
    labelNames: ["state"] as const,
    registers: [registry],
  });
  const rotationStepTime = new Gauge({
    name: "mesh_ca_rotation_step_timestamp_seconds",
    help: "When each rotate step last ran (rotation.json), as a Unix timestamp; 0 if never.",
    labelNames: ["step"] as const,
    registers: [registry],
  });
  const rotationSafeTime = new Gauge({
    name: "mesh_ca_rotation_safe_timestamp_seconds",
    help: "When the rotation's next step becomes safe, as a Unix timestamp; 0 for a step that is not the next one.",
    labelNames: ["step"] as const,
    registers: [registry],
  });
  for (const state of ROTATION_STATES) rotationState.set({ state }, 0);
  for (const step of ROTATION_STEPS) rotationStepTime.set({ step }, 0);
  for (const step of WAITING_STEPS) rotationSafeTime.set({ step }, 0);
  return {
    registry,
    svidRequests,
    signDuration,
    signingCertExpiry,
    rootExpiry,
    httpRefusals,
    reloads,
    bundleRoots,
    bundleSequence,
    rotationState,
    rotationStepTime,
    rotationSafeTime,
  };
}

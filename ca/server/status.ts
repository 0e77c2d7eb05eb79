/**
 * What `GET /status` on mesh-ca's admin port answers (docs/ca.md "Admin
 * port and metrics"): the CA's state in one JSON document, built from the
 * parts that hold it at the moment of the request. Certificates are named
 * by subject, serial and SHA-256 fingerprint, never by their PEM; no key,
 * token or token hash is ever part of it, so it is safe to paste into a
 * ticket.
 */
import { X509Certificate } from "node:crypto";
import type { Readiness } from "../../lib/admin/server.js";
import { versionInfo, type VersionInfo } from "../../lib/version.js";
import { ISSUANCE_METHODS, ISSUANCE_RESULTS, HTTP_REFUSAL_CODES, type CaMetrics, type HttpRefusalCode, type IssuanceMethod, type IssuanceResult } from "../metrics.js";
import type { SigningAuthority } from "../signing/authority.js";
import type { ServingCredentials } from "./serving-cert.js";

/** A certificate as /status shows it. All times are ISO 8601 UTC. */
export interface CertificateStatus {
  /** The subject in OpenSSL's one-line form: `CN=..., O=...`; "" for an empty one (an SVID's). */
  readonly subject: string;
  /** Uppercase hex, as `openssl x509 -serial` prints it. */
  readonly serial: string;
  /** Colon-separated uppercase hex, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly sha256: string;
  readonly notBefore: string;
  readonly notAfter: string;
}

/** The whole /status document. */
export interface CaStatus {
  readonly program: "mesh-ca";
  readonly version: VersionInfo;
  readonly startedAt: string;
  readonly trustDomain: string;
  /** As /readyz: the reason is there only when not ready. */
  readonly readiness: { readonly ready: boolean; readonly reason?: string };
  /** `https://host:port` of the API. */
  readonly api: string;
  /** The certificate that signs SVIDs (a root, or an intermediate of another PKI). */
  readonly signingCertificate: CertificateStatus;
  /** Intermediates between the signing certificate and a root (signing.chainFile); empty when it is a root. */
  readonly intermediates: readonly CertificateStatus[];
  /** The roots published at /v1/bundle. */
  readonly bundle: { readonly roots: readonly CertificateStatus[] };
  /** The API's own serving certificate, renewed half way through its life. */
  readonly servingCertificate: CertificateStatus;
  /** SVID requests since start, by how the caller authenticated and how it ended (mesh_ca_svid_requests_total). */
  readonly issuance: Readonly<Record<IssuanceMethod, Readonly<Record<IssuanceResult, number>>>>;
  /** Requests refused before they were parsed since start (mesh_ca_http_refusals_total). */
  readonly httpRefusals: Readonly<Record<HttpRefusalCode, number>>;
}

/** The parts /status reads; functions where the part may be replaced while the CA runs. */
export interface CaStatusSources {
  readonly authority: () => SigningAuthority;
  readonly serving: () => ServingCredentials;
  readonly readiness: () => Readiness;
  readonly metrics: CaMetrics;
  readonly apiUrl: string;
  readonly startedAt: Date;
}

/** Builds the /status document now. */
export async function caStatus(s: CaStatusSources): Promise<CaStatus> {
  const authority = s.authority();
  const readiness = s.readiness();
  const servingLeaf = new X509Certificate(s.serving().certChainPem);
  return {
    program: "mesh-ca",
    version: versionInfo(),
    startedAt: s.startedAt.toISOString(),
    trustDomain: authority.trustDomain.name,
    readiness: readiness.ready ? { ready: true } : { ready: false, reason: readiness.reason },
    api: s.apiUrl,
    signingCertificate: certificateStatus(authority.signingCert),
    intermediates: authority.intermediates.map(certificateStatus),
    bundle: { roots: authority.bundle.roots.map(certificateStatus) },
    servingCertificate: certificateStatus(servingLeaf),
    issuance: await issuanceCounts(s.metrics),
    httpRefusals: await refusalCounts(s.metrics),
  };
}

function certificateStatus(cert: X509Certificate): CertificateStatus {
  return {
    // An SVID (the serving certificate is one) has an empty subject, which Node reports as undefined.
    subject: (cert.subject ?? "").split("\n").join(", "),
    serial: cert.serialNumber.toUpperCase(),
    sha256: cert.fingerprint256,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
  };
}

/** Every method × result pair (all exist from the start at 0), read from the counter itself. */
async function issuanceCounts(metrics: CaMetrics): Promise<CaStatus["issuance"]> {
  const { values } = await metrics.svidRequests.get();
  const count = (method: string, result: string): number =>
    values.filter((v) => v.labels.method === method && v.labels.result === result).reduce((sum, v) => sum + v.value, 0);
  return Object.fromEntries(
    ISSUANCE_METHODS.map((method) => [method, Object.fromEntries(ISSUANCE_RESULTS.map((result) => [result, count(method, result)]))]),
  ) as CaStatus["issuance"];
}

async function refusalCounts(metrics: CaMetrics): Promise<CaStatus["httpRefusals"]> {
  const { values } = await metrics.httpRefusals.get();
  return Object.fromEntries(
    HTTP_REFUSAL_CODES.map((code) => [code, values.filter((v) => v.labels.code === code).reduce((sum, v) => sum + v.value, 0)]),
  ) as CaStatus["httpRefusals"];
}

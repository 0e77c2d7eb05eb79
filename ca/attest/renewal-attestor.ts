/**
 * Renewal: the caller presents its current SVID as TLS client certificate.
 * The server requests a certificate but does not require one (token callers
 * have none), so the verdict is made here: OpenSSL's chain check against the
 * bundle (`socket.authorized`), then every leaf SVID rule and the trust
 * domain with lib/spiffe. The ID renewed is the certificate's own; the
 * handler refuses a CSR that asks for another.
 */
import type { TLSSocket } from "node:tls";
import { SvidError } from "../../lib/spiffe/errors.js";
import type { TrustDomain } from "../../lib/spiffe/id.js";
import { checkLeafSvid } from "../../lib/spiffe/svid.js";
import { ApiError, ApiErrorCode } from "../errors.js";
import type { AcceptedCredential, Attestation, Attestor, PresentedCredential } from "./attestor.js";

/** Renewal takes every request that presents a client certificate and no bearer token. */
export class RenewalAttestor implements Attestor {
  readonly method = "renewal";
  readonly summary = {};

  constructor(private readonly trustDomain: TrustDomain) {}

  accept(credential: PresentedCredential): AcceptedCredential | undefined {
    if (credential.kind !== "client_certificate") return undefined;
    const { socket } = credential;
    const serial = socket.getPeerX509Certificate()?.serialNumber;
    return {
      fingerprint: serial ? { presentedSerial: serial.toLowerCase() } : {},
      attest: async (now) => attestRenewal(socket, this.trustDomain, now),
    };
  }
}

/** Authenticates the caller by its client certificate; throws ApiError 401. */
export function attestRenewal(socket: TLSSocket, trustDomain: TrustDomain, now: Date): Attestation {
  const cert = socket.getPeerX509Certificate();
  if (!cert) throw new ApiError(ApiErrorCode.UNAUTHENTICATED, "no credential: send a bearer token or your current SVID as client certificate", { reason: "no_credential" });
  if (!socket.authorized) {
    throw new ApiError(ApiErrorCode.UNAUTHENTICATED, `client certificate is not a valid SVID of trust domain ${trustDomain.name} (untrusted or expired)`, {
      reason: "renewal_untrusted",
      detail: { tlsError: String(socket.authorizationError), serial: cert.serialNumber },
    });
  }
  let id;
  try {
    id = checkLeafSvid(cert.raw, { now, trustDomain, usage: "client" });
  } catch (err) {
    if (!(err instanceof SvidError)) throw err;
    throw new ApiError(ApiErrorCode.UNAUTHENTICATED, `client certificate is not a valid SVID: ${err.message}`, {
      reason: "renewal_invalid_svid",
      detail: { svidError: err.code, serial: cert.serialNumber },
    });
  }
  return { method: "renewal", id, credential: { presentedSerial: cert.serialNumber.toLowerCase() } };
}

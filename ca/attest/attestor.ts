/**
 * The Attestor interface: one way an SVID request authenticates. The handler
 * reads the credential a request presents (a bearer token, or else a TLS
 * client certificate) before its body, hands it to the attestors in the
 * order attestors.ts builds them, and the first that accepts it judges it.
 * Every attestor proves a SPIFFE ID from the credential, never from the CSR.
 */
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import type { SpiffeId } from "../../lib/spiffe/id.js";
import { ApiError, ApiErrorCode } from "../errors.js";
import type { IssuanceMethod } from "../metrics.js";

/** The credential a request presents, read from its headers and TLS session. */
export type PresentedCredential =
  | { readonly kind: "bearer"; readonly token: string }
  | { readonly kind: "client_certificate"; readonly socket: TLSSocket };

/** A caller authenticated and authorized for one SPIFFE ID. */
export interface Attestation {
  method: IssuanceMethod;
  id: SpiffeId;
  /** For the audit log: a token hash, join token id or certificate serial; never a secret. */
  credential: Record<string, string>;
  /** Runs right before signing and may still refuse (a join token used up by a concurrent request). */
  commit?: () => Promise<void>;
}

/** A credential an attestor has taken on. */
export interface AcceptedCredential {
  /** What the log may say about the credential before the verdict: a hash or a serial, never a secret. */
  readonly fingerprint: Readonly<Record<string, string>>;
  /** The verdict: the identity the credential proves, or ApiError 401, 403 or 503. */
  attest(now: Date): Promise<Attestation>;
}

/** One attestation method. */
export interface Attestor {
  /** The `method` label of mesh_ca_svid_requests_total and of the log lines. */
  readonly method: IssuanceMethod;
  /** For the startup log line, e.g. `{ joinTokens: "file" }` (`"off"` for a method the config leaves off). */
  readonly summary: Readonly<Record<string, string>>;
  /** Takes the credential when it is of this method's kind; undefined leaves it to the next attestor. */
  accept(credential: PresentedCredential): AcceptedCredential | undefined;
}

/** Which bearer tokens belong to a method, and what the log may say about one. */
export interface BearerTokenKind {
  readonly method: IssuanceMethod;
  /** True for this method's tokens; the kinds of all bearer methods must not overlap. */
  matches(token: string): boolean;
  fingerprint(token: string): Record<string, string>;
}

/** Accepts `credential` when it is a bearer token of `kind`, to be judged by `judge`. */
export function acceptBearer(
  kind: BearerTokenKind,
  credential: PresentedCredential,
  judge: (token: string, now: Date) => Promise<Attestation>,
): AcceptedCredential | undefined {
  if (credential.kind !== "bearer" || !kind.matches(credential.token)) return undefined;
  const token = credential.token;
  return { fingerprint: kind.fingerprint(token), attest: (now) => judge(token, now) };
}

/**
 * Stands in for a bearer-token method the config leaves off: it still takes
 * the tokens of its kind and refuses them with a reason that says so, so a
 * join token is never tried as a Kubernetes token (or the other way round).
 */
export class DisabledBearerAttestor implements Attestor {
  readonly method: IssuanceMethod;

  constructor(
    private readonly kind: BearerTokenKind,
    readonly summary: Readonly<Record<string, string>>,
    private readonly refusal: () => ApiError,
  ) {
    this.method = kind.method;
  }

  accept(credential: PresentedCredential): AcceptedCredential | undefined {
    return acceptBearer(this.kind, credential, () => Promise.reject(this.refusal()));
  }
}

/**
 * The credential of a request: `Authorization: Bearer <token>` when the
 * header is there (even if a client certificate was sent too), else the TLS
 * client certificate. Throws ApiError 401 for a malformed header or none of both.
 */
export function presentedCredential(req: IncomingMessage): PresentedCredential {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match) {
      throw new ApiError(ApiErrorCode.UNAUTHENTICATED, "Authorization header must be: Bearer <token>", { reason: "bad_authorization_header" });
    }
    return { kind: "bearer", token: match[1] as string };
  }
  const socket = req.socket as TLSSocket;
  if (socket.getPeerX509Certificate() !== undefined) return { kind: "client_certificate", socket };
  throw new ApiError(
    ApiErrorCode.UNAUTHENTICATED,
    "no credential: send Authorization: Bearer <service-account or join token>, or your current SVID as TLS client certificate",
    { reason: "no_credential" },
  );
}

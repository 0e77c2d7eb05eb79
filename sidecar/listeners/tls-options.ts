/**
 * TLS settings shared by every listener, in one place so a reviewer sees
 * them together: protocol floor, AEAD-only ECDHE suites and elliptic-curve
 * groups (lib/tls/), session tickets, and the context options built once
 * per credential rotation.
 */
import { constants as cryptoConstants } from "node:crypto";
import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";
import { AEAD_CIPHERS } from "../../lib/tls/ciphers.js";
import { ecdhCurveOf } from "../../lib/tls/groups.js";
import type { TlsConfig } from "../config.js";

/**
 * How long a session ticket from an inbound listener can be resumed, in
 * seconds (Node's default, stated so the outbound side can use the same
 * bound). Every resumed peer is judged again anyway; the lifetime bounds how
 * long a chain verified once stands in for a new verification.
 */
export const SESSION_LIFETIME_S = 300;

/**
 * Session tickets on the inbound side.
 *
 * With `tls.sessionResumption` (the default) the server sends stateless
 * tickets, encrypted with keys that live in the SecureContext: every
 * credential change builds a new context, so a rotation or a bundle change
 * turns every earlier ticket into a full handshake. How many tickets a full
 * handshake sends is a process-wide OpenSSL setting (`NumTickets` in
 * openssl-sidecar.cnf: 1, since the outbound side keeps only the latest);
 * Node 20 has no per-context way to set it. A resumed handshake sends none.
 *
 * Without resumption, SSL_OP_NO_TICKET. Measured on Node 20.20 / OpenSSL
 * 3.0.19 with `openssl s_client -sess_out` and `-msg`: under TLS 1.3 it does
 * not stop the NewSessionTicket messages, it makes them stateful (a 32-byte
 * session ID, never resumable here since Node keeps no server session
 * cache), which skips the ticket's serialisation and encryption. Zero
 * tickets takes `NumTickets = 0` in OPENSSL_CONF. Under TLS 1.2 the option
 * turns tickets off completely.
 */
export function inboundSecureOptions(sessionResumption: boolean): number {
  return sessionResumption ? 0 : cryptoConstants.SSL_OP_NO_TICKET;
}

/** Key, chain and roots of the current credentials, as TLS wants them. */
export interface TlsMaterial {
  /** PKCS#8 PEM of the in-memory private key. */
  readonly keyPem: string;
  /** Leaf then intermediates. */
  readonly certChainPem: string;
  /** Roots of the trust domain. */
  readonly bundlePem: string;
}

/** What both ends of the sidecar's TLS share: its credentials and the protocol, suites and groups it offers. */
function commonContextOptions(material: TlsMaterial, tls: TlsConfig): SecureContextOptions {
  return {
    key: material.keyPem,
    cert: material.certChainPem,
    ca: material.bundlePem,
    minVersion: tls.minVersion,
    ciphers: AEAD_CIPHERS,
    ecdhCurve: ecdhCurveOf(tls.groups),
  };
}

/** Full options for `tls.Server#setSecureContext`: that call replaces every context option, so all are given. */
export function serverContextOptions(material: TlsMaterial, tls: TlsConfig): SecureContextOptions {
  return {
    ...commonContextOptions(material, tls),
    honorCipherOrder: true,
    secureOptions: inboundSecureOptions(tls.sessionResumption),
    sessionTimeout: SESSION_LIFETIME_S,
  };
}

/** One client context per rotation, shared by every outbound connection. */
export function clientSecureContext(material: TlsMaterial, tls: TlsConfig): SecureContext {
  return createSecureContext(commonContextOptions(material, tls));
}

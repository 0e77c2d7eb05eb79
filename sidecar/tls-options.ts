/**
 * TLS settings shared by every listener, in one place so a reviewer sees
 * them together: protocol floor, AEAD-only suites, no session tickets on the
 * inbound side, and the context options built once per credential rotation.
 */
import { constants as cryptoConstants } from "node:crypto";
import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";
import type { TlsMinVersion } from "./config.js";

/**
 * TLS 1.3 suites first, then TLS 1.2 ECDHE with AEAD only. Node's default
 * list still carries CBC suites for TLS 1.2 (testssl flags LUCKY13); naming
 * the 1.3 suites here keeps them when the 1.2 list is replaced.
 */
export const CIPHERS = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/**
 * Inbound servers ask OpenSSL for no session tickets: our peers do not resume
 * (the outbound side opens a full handshake each time), and building tickets
 * is a large share of a handshake's CPU.
 *
 * Measured on Node 20.20 / OpenSSL 3.0.19 with `openssl s_client -sess_out`
 * and `-msg`: under TLS 1.3 SSL_OP_NO_TICKET does not stop the two
 * NewSessionTicket messages, it makes them stateful (a 32-byte session ID
 * instead of an encrypted ~200-byte ticket), which skips the ticket's
 * serialisation and encryption. Node 20 has no per-context way to send zero
 * tickets; `NumTickets = 0` in an OpenSSL config loaded at process start
 * (OPENSSL_CONF, see docs/sidecar.md) does, for the whole process. Under
 * TLS 1.2 the option turns tickets off completely.
 */
export const INBOUND_SECURE_OPTIONS = cryptoConstants.SSL_OP_NO_TICKET;

/** Key, chain and roots of the current credentials, as TLS wants them. */
export interface TlsMaterial {
  /** PKCS#8 PEM of the in-memory private key. */
  readonly keyPem: string;
  /** Leaf then intermediates. */
  readonly certChainPem: string;
  /** Roots of the trust domain. */
  readonly bundlePem: string;
}

/** Full options for `tls.Server#setSecureContext`: that call replaces every context option, so all are given. */
export function serverContextOptions(material: TlsMaterial, minVersion: TlsMinVersion): SecureContextOptions {
  return {
    key: material.keyPem,
    cert: material.certChainPem,
    ca: material.bundlePem,
    minVersion,
    ciphers: CIPHERS,
    honorCipherOrder: true,
    secureOptions: INBOUND_SECURE_OPTIONS,
  };
}

/** One client context per rotation, shared by every outbound connection. */
export function clientSecureContext(material: TlsMaterial, minVersion: TlsMinVersion): SecureContext {
  return createSecureContext({
    key: material.keyPem,
    cert: material.certChainPem,
    ca: material.bundlePem,
    minVersion,
    ciphers: CIPHERS,
  });
}

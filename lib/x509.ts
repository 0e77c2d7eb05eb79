/**
 * The one place @peculiar/x509 is imported from. It needs reflect-metadata
 * loaded first, and a WebCrypto provider: Node's own, so keys can move between
 * WebCrypto and node:crypto KeyObjects without copies.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/** Node's WebCrypto; the same object the library signs and verifies with. */
export const nodeWebCrypto: webcrypto.Crypto = webcrypto;
// The library types its provider with the DOM's Crypto, which Node's matches at run time.
x509.cryptoProvider.set(nodeWebCrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[1]);

export { x509 };

/**
 * The one place @peculiar/x509 is imported from. It needs reflect-metadata
 * loaded first, and a WebCrypto provider: Node's own, so keys can move between
 * WebCrypto and node:crypto KeyObjects without copies.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

type WebCrypto = Parameters<typeof x509.cryptoProvider.set>[0];

/** Node's WebCrypto, typed as the library expects it. */
export const nodeWebCrypto = webcrypto as unknown as WebCrypto;
x509.cryptoProvider.set(nodeWebCrypto);

export { x509 };

import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { x509 } from "../../lib/x509.js";
import { WorkloadKey } from "./workload-key.js";

describe("WorkloadKey", () => {
  it("is an ECDSA P-256 key whose CSR proves possession and asks for no name", async () => {
    const key = await WorkloadKey.generate();
    expect(key.privateKey.asymmetricKeyType).toBe("ec");
    expect(key.privateKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    const csr = new x509.Pkcs10CertificateRequest(await key.csrPem());
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe("");
    expect(csr.extensions).toEqual([]);
    expect(Buffer.from(csr.publicKey.rawData).equals(key.spki)).toBe(true);
  });

  it("never shows its private key when printed or serialised", async () => {
    const key = await WorkloadKey.generate();
    const body = key.keyPem.split("\n")[1] as string;
    expect(JSON.stringify({ key })).not.toContain(body);
    expect(inspect(key)).not.toContain(body);
    expect(inspect(key)).toBe("[WorkloadKey]");
  });
});

import { describe, it, expect } from "vitest";
import { TestCa } from "../test/helpers/test-ca.js";
import { pemBlocks } from "./pem.js";

const ID = "spiffe://example.org/ns/shop/sa/orders";

describe("pemBlocks", () => {
  it("reports block labels and tolerates text around blocks and CRLF line ends", async () => {
    const root = await TestCa.create();
    const svid = await root.issue(ID);
    const text = `subject=\r\n${svid.certPem.replace(/\n/g, "\r\n")}trailing words\n`;
    const blocks = pemBlocks(text);
    expect(blocks.map((b) => b.label)).toEqual(["CERTIFICATE"]);
    expect(blocks[0]?.der.equals(Buffer.from(svid.cert.rawData))).toBe(true);
  });

  it("refuses a block that is not base64 and a BEGIN line without its END line", () => {
    expect(() => pemBlocks("-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n")).toThrow(/CERTIFICATE #1 is not valid base64/);
    expect(() => pemBlocks("-----BEGIN CERTIFICATE-----\nAAAA\n")).toThrow(/BEGIN line without a matching END line/);
    expect(() => pemBlocks("-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n")).toThrow(/BEGIN line without a matching END line/);
  });

  it("finds no block in text without one", () => {
    expect(pemBlocks("hello")).toEqual([]);
  });
});

import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, secretHash } from "./log.js";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, destination };
}

describe("logger", () => {
  it("redacts secrets at the top level and nested", () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: "t", format: "json", destination });
    log.info({ token: "meshjt_secret", req: { headers: { authorization: "Bearer abc" } }, svid: { keyPem: "-----BEGIN" } }, "hello");
    const text = lines.join("");
    expect(text).toContain('"msg":"hello"');
    expect(text).not.toContain("meshjt_secret");
    expect(text).not.toContain("Bearer abc");
    expect(text).not.toContain("-----BEGIN");
    expect(text).toContain("[redacted]");
  });

  it("hashes secrets to a short stable fingerprint", () => {
    expect(secretHash("a")).toBe(secretHash("a"));
    expect(secretHash("a")).toMatch(/^[0-9a-f]{12}$/);
    expect(secretHash("a")).not.toBe(secretHash("b"));
  });
});

import { describe, expect, it } from "vitest";
import { missingTools, missingToolsMessage, TEST_TOOLS } from "./tools.js";

describe("the test tools check", () => {
  it("finds every tool the suite uses on this machine (the global setup installed what was missing)", () => {
    expect(missingTools()).toEqual([]);
  });

  it("reports exactly the tools that are absent", () => {
    const absent = new Set(["testssl", "sslscan"]);
    expect(missingTools(TEST_TOOLS, (bin) => !absent.has(bin)).map((t) => t.bin)).toEqual(["testssl", "sslscan"]);
  });

  it("names each missing tool, who needs it, and the one command that installs them all", () => {
    const missing = TEST_TOOLS.filter((t) => t.bin === "testssl" || t.bin === "haproxy");
    const message = missingToolsMessage(missing, "not root, so the test setup cannot install them");
    expect(message).toContain("not root");
    expect(message).toContain("testssl (Debian package testssl.sh): interop");
    expect(message).toContain("haproxy (Debian package haproxy)");
    expect(message).toMatch(/sudo apt-get install -y haproxy testssl\.sh$/);
  });
});

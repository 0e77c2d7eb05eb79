import { describe, expect, it } from "vitest";
import { formatHostPort, parseHostPort } from "./address.js";

describe("host:port", () => {
  it("parses names, IPv4 and bracketed IPv6", () => {
    expect(parseHostPort("localhost:8443")).toEqual({ host: "localhost", port: 8443 });
    expect(parseHostPort("127.0.0.1:1")).toEqual({ host: "127.0.0.1", port: 1 });
    expect(parseHostPort("[::1]:15006")).toEqual({ host: "::1", port: 15006 });
  });

  it("refuses a missing host, a bad port and port 0 unless allowed", () => {
    for (const bad of ["8080", ":8080", "host:", "host:65536", "host:x", "::1:80", "a b:1"]) expect(parseHostPort(bad)).toBeUndefined();
    expect(parseHostPort("127.0.0.1:0")).toBeUndefined();
    expect(parseHostPort("127.0.0.1:0", { allowZero: true })).toEqual({ host: "127.0.0.1", port: 0 });
  });

  it("formats IPv6 in brackets", () => {
    expect(formatHostPort({ host: "::1", port: 80 })).toBe("[::1]:80");
    expect(formatHostPort({ host: "a", port: 80 })).toBe("a:80");
  });
});

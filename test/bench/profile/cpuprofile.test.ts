import { describe, expect, it } from "vitest";
import { areaOf, shortUrl, summarizeCpuProfile, type CpuProfile } from "../../../bench/profile/cpuprofile.js";
import { parsePerfChildren, parsePerfDsoReport, parsePerfReport } from "../../../bench/profile/perf-report.js";

const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber });

const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)") },
    { id: 2, callFrame: frame("(idle)") },
    { id: 3, callFrame: frame("(program)") },
    { id: 4, callFrame: frame("onHandshake", "file:///srv/app/dist/sidecar/inbound.js", 41) },
    { id: 5, callFrame: frame("emit", "node:events", 9) },
    { id: 6, callFrame: frame("toBER", "file:///srv/app/node_modules/asn1js/build/index.js", 99) },
  ],
  samples: [2, 3, 4, 4, 5, 6, 2],
  timeDeltas: [1000, 2000, 3000, 1000, 1000, 1000, 1000],
  startTime: 5_000_000,
};

describe("CPU profile summary", () => {
  it("sums self time per function from sample time deltas and leaves idle out of the busy share", () => {
    const s = summarizeCpuProfile(PROFILE);
    expect(s.totalMs).toBe(10);
    expect(s.busyMs).toBe(8);
    expect(s.functions[0]).toEqual({ name: "onHandshake sidecar/inbound.js:42", selfMs: 4, percent: 50 });
    expect(s.functions.map((f) => f.name)).not.toContain("(idle)");
  });

  it("counts only samples inside the window when given one", () => {
    // Sample times: 5.001, 5.003, 5.006, 5.007, 5.008, 5.009, 5.010 s.
    const s = summarizeCpuProfile(PROFILE, 25, { fromUs: 5_006_000, toUs: 5_008_000 });
    expect(s.totalMs).toBe(5);
    expect(s.functions.map((f) => [f.name, f.selfMs])).toEqual([
      ["onHandshake sidecar/inbound.js:42", 4],
      ["emit node:events:10", 1],
    ]);
  });

  it("groups time by area of code", () => {
    const areas = Object.fromEntries(summarizeCpuProfile(PROFILE).areas.map((a) => [a.name, a.selfMs]));
    expect(areas).toEqual({ "sidecar/": 4, "(program)": 2, "node internals": 1, "node_modules/asn1js": 1 });
  });

  it("shortens locations to the part after dist/ or from node_modules/ on", () => {
    expect(shortUrl("file:///x/dist/lib/spiffe/svid.js")).toBe("lib/spiffe/svid.js");
    expect(shortUrl("file:///x/node_modules/@peculiar/x509/build/x509.es.js")).toBe("node_modules/@peculiar/x509/build/x509.es.js");
    expect(areaOf("f", "file:///x/node_modules/@peculiar/x509/build/x509.es.js")).toBe("node_modules/@peculiar/x509");
    expect(areaOf("SSL_do_handshake", "")).toBe("(native)");
  });
});

describe("perf report parsing", () => {
  it("reads symbol lines and skips comments", () => {
    const text = [
      "# Overhead  Shared Object      Symbol",
      "     3.38%  libc.so.6          [.] _int_malloc",
      "     2.39%  [kernel.kallsyms]  [k] _raw_spin_unlock_irqrestore",
      "",
    ].join("\n");
    expect(parsePerfReport(text)).toEqual([
      { percent: 3.38, dso: "libc.so.6", symbol: "_int_malloc" },
      { percent: 2.39, dso: "[kernel.kallsyms]", symbol: "_raw_spin_unlock_irqrestore" },
    ]);
  });

  it("reads library lines sorted by share", () => {
    const text = "#\n    14.03%  [kernel.kallsyms]\n    58.04%  libcrypto.so.3   \n";
    expect(parsePerfDsoReport(text).map((d) => d.dso)).toEqual(["libcrypto.so.3", "[kernel.kallsyms]"]);
  });
});

describe("perf inclusive report parsing", () => {
  it("reads children, self and symbol, keeping the first line of a symbol", () => {
    const text = [
      "# Children      Self  Symbol",
      "    42.41%     0.04%  [.] node::crypto::TLSWrap::ClearOut",
      "    23.11%     0.00%  [.] tls_process_client_certificate",
      "     1.00%     0.00%  [.] tls_process_client_certificate",
    ].join("\n");
    const shares = parsePerfChildren(text);
    expect(shares.get("node::crypto::TLSWrap::ClearOut")).toBe(42.41);
    expect(shares.get("tls_process_client_certificate")).toBe(23.11);
  });
});

import { describe, expect, it } from "vitest";
import { UsageError } from "../../lib/cli/flags.js";
import { parseBenchArgs } from "../../bench/settings.js";
import { numTicketsOpensslConf, opensslConfFor, proxyEnv, resumes } from "../../bench/targets/tickets.js";

describe("npm run bench flags", () => {
  it("runs three rounds of haproxy and both sidecars by default, one short round with --quick", () => {
    const full = parseBenchArgs([]);
    expect(full?.rounds).toBe(3);
    expect(full?.targets).toEqual(["direct", "haproxy", "sidecar", "sidecar-node24"]);
    expect(full?.phases.idleConnections).toBe(2000);
    expect(full?.tickets).toBe("one");
    expect(full?.hop).toBe(true);
    expect(parseBenchArgs(["--no-hop"])?.hop).toBe(false);
    expect(full?.profileTest).toBe("handshake");
    expect(parseBenchArgs(["--profile", "--profile-test", "upload"])?.profileTest).toBe("upload");
    const quick = parseBenchArgs(["--quick"]);
    expect(quick?.rounds).toBe(1);
    expect(quick?.phases.durationMs).toBeLessThan(full?.phases.durationMs ?? 0);
  });

  it("always keeps direct and haproxy, the baselines of every ratio", () => {
    expect(parseBenchArgs(["--targets", "sidecar"])?.targets).toEqual(["direct", "haproxy", "sidecar"]);
    expect(parseBenchArgs(["--targets", "node-plain,sidecar"])?.targets).toEqual(["direct", "haproxy", "sidecar", "node-plain"]);
  });

  it("with --proxy-protocol, runs the sidecar with and without proxyProtocol: v2 in the same run", () => {
    expect(parseBenchArgs(["--proxy-protocol"])?.targets).toEqual(["direct", "haproxy", "sidecar", "sidecar-proxy-v2", "sidecar-node24"]);
    expect(parseBenchArgs(["--quick", "--targets", "haproxy", "--proxy-protocol"])?.targets).toEqual(["direct", "haproxy", "sidecar", "sidecar-proxy-v2"]);
    expect(parseBenchArgs(["--targets", "sidecar-proxy-v2"])?.targets).toEqual(["direct", "haproxy", "sidecar-proxy-v2"]);
  });

  it("refuses an unknown target, a bad number and a bad ticket mode", () => {
    expect(() => parseBenchArgs(["--targets", "envoy"])).toThrow(UsageError);
    expect(() => parseBenchArgs(["--rounds", "0"])).toThrow(/--rounds needs a positive integer/);
    expect(() => parseBenchArgs(["--tickets", "maybe"])).toThrow(/--tickets must be one of one, off, stateful/);
    expect(() => parseBenchArgs(["--profile-test", "latency"])).toThrow(/--profile-test must be one of handshake, resumed, download, upload/);
  });
});

describe("session ticket settings", () => {
  it("sets the ticket count through OPENSSL_CONF for Node and haproxy alike", () => {
    const conf = numTicketsOpensslConf(0);
    expect(conf).toMatch(/^openssl_conf = bench_init$/m);
    expect(conf).toMatch(/^nodejs_conf = bench_init$/m);
    expect(conf).toMatch(/^NumTickets = 0$/m);
    expect(opensslConfFor("one")).toMatch(/^NumTickets = 1$/m);
    expect(opensslConfFor("off")).toMatch(/^NumTickets = 0$/m);
    expect(opensslConfFor("stateful")).toBeUndefined();
    expect(proxyEnv("one", "/x.cnf").OPENSSL_CONF).toBe("/x.cnf");
    expect(proxyEnv("off", "/x.cnf").OPENSSL_CONF).toBe("/x.cnf");
    expect(proxyEnv("stateful", "/x.cnf").OPENSSL_CONF).toBeUndefined();
  });

  it("measures resumed connections only where the proxies send tickets that resume", () => {
    expect(resumes("one")).toBe(true);
    expect(resumes("off")).toBe(false);
    expect(resumes("stateful")).toBe(false);
  });
});

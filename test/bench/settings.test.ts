import { describe, expect, it } from "vitest";
import { UsageError } from "../../lib/cli/flags.js";
import { parseBenchArgs } from "../../bench/settings.js";
import { NO_TICKETS_OPENSSL_CONF, proxyEnv } from "../../bench/tickets.js";

describe("npm run bench flags", () => {
  it("runs three rounds of haproxy and both sidecars by default, one short round with --quick", () => {
    const full = parseBenchArgs([]);
    expect(full?.rounds).toBe(3);
    expect(full?.targets).toEqual(["direct", "haproxy", "sidecar", "sidecar-node24"]);
    expect(full?.phases.idleConnections).toBe(2000);
    expect(full?.tickets).toBe("off");
    const quick = parseBenchArgs(["--quick"]);
    expect(quick?.rounds).toBe(1);
    expect(quick?.phases.durationMs).toBeLessThan(full?.phases.durationMs ?? 0);
  });

  it("always keeps direct and haproxy, the baselines of every ratio", () => {
    expect(parseBenchArgs(["--targets", "sidecar"])?.targets).toEqual(["direct", "haproxy", "sidecar"]);
    expect(parseBenchArgs(["--targets", "node-plain,sidecar"])?.targets).toEqual(["direct", "haproxy", "sidecar", "node-plain"]);
  });

  it("refuses an unknown target, a bad number and a bad ticket mode", () => {
    expect(() => parseBenchArgs(["--targets", "envoy"])).toThrow(UsageError);
    expect(() => parseBenchArgs(["--rounds", "0"])).toThrow(/--rounds needs a positive integer/);
    expect(() => parseBenchArgs(["--tickets", "maybe"])).toThrow(/--tickets must be one of off, stateful/);
  });
});

describe("session ticket settings", () => {
  it("turns tickets off through OPENSSL_CONF for Node and haproxy alike", () => {
    expect(NO_TICKETS_OPENSSL_CONF).toMatch(/^openssl_conf = bench_init$/m);
    expect(NO_TICKETS_OPENSSL_CONF).toMatch(/^nodejs_conf = bench_init$/m);
    expect(NO_TICKETS_OPENSSL_CONF).toMatch(/^NumTickets = 0$/m);
    expect(proxyEnv("off", "/x.cnf").OPENSSL_CONF).toBe("/x.cnf");
    expect(proxyEnv("stateful", "/x.cnf").OPENSSL_CONF).toBeUndefined();
  });
});

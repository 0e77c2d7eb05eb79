/**
 * The built `mesh-sidecar check-config --config FILE`: what the sidecar
 * checks at start (config, ca.bundleFile, policyFile and how its listeners
 * fit), with nothing started: mesh-ca is never contacted and no port bound.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCa } from "../helpers/test-ca.js";
import { runCli } from "./run-cli.js";

const TD = "example.org";
let dir: string;
let ca: TestCa;
/** Stands where mesh-ca would be: counts every connection made to it. */
let fakeCaAddress: Server;
let caConnections = 0;
/** A port this test holds: a sidecar that bound the inbound listener would fail on it. */
let held: Server;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "check-config-"));
  ca = await TestCa.create({ trustDomain: TD });
  await writeFile(join(dir, "bundle.pem"), ca.bundlePem);
  await writeFile(join(dir, "token"), "secret-token-value\n");
  fakeCaAddress = createServer((s) => {
    caConnections++;
    s.destroy();
  });
  held = createServer();
  await Promise.all([fakeCaAddress, held].map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", r))));
});

afterAll(async () => {
  await Promise.all([fakeCaAddress, held].map((s) => new Promise<void>((r) => s.close(() => r()))));
  await rm(dir, { recursive: true, force: true });
});

const port = (s: Server): number => (s.address() as AddressInfo).port;

/** A sidecar config in `dir`, with the given extra lines replacing the defaults by key. */
async function writeConfig(name: string, overrides: Record<string, string[]> = {}): Promise<string> {
  const sections: Record<string, string[]> = {
    trustDomain: [`trustDomain: ${TD}`],
    ca: ["ca:", `  url: https://127.0.0.1:${port(fakeCaAddress)}`, "  bundleFile: bundle.pem", "  tokenFile: token"],
    inbound: ["inbound:", "  - name: http", `    listen: 127.0.0.1:${port(held)}`, "    forward: 127.0.0.1:8080"],
    outbound: ["outbound:", "  - name: to-orders", "    listen: 127.0.0.1:15001", "    upstream: orders.shop.svc:15006", `    expectedPeer: spiffe://${TD}/ns/shop/sa/orders`],
    policyFile: ["policyFile: policy.yaml"],
    admin: ["admin: 127.0.0.1:15020"],
    ...overrides,
  };
  const file = join(dir, name);
  await writeFile(file, `${Object.values(sections).flat().join("\n")}\n`);
  return file;
}

async function writePolicy(lines: string[]): Promise<void> {
  await writeFile(join(dir, "policy.yaml"), `${lines.join("\n")}\n`);
}

const GOOD_POLICY = ["version: 1", "listeners:", "  http:", "    allow:", `      - spiffe://${TD}/ns/web/sa/frontend`];

describe("mesh-sidecar check-config", () => {
  it("validates a config with its bundle and policy, prints a summary, and exits 0 without contacting mesh-ca or binding a port", async () => {
    await writePolicy(GOOD_POLICY);
    const file = await writeConfig("good.yaml");
    const res = await runCli(["check-config", "--config", file]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout.split("\n")).toEqual([
      `${file}: valid`,
      `  trust domain ${TD}, mesh-ca https://127.0.0.1:${port(fakeCaAddress)}, bootstrap bundle ${join(dir, "bundle.pem")} (1 root)`,
      `  inbound http: 127.0.0.1:${port(held)} -> app 127.0.0.1:8080`,
      `  outbound to-orders: 127.0.0.1:15001 -> orders.shop.svc:15006 (expects spiffe://${TD}/ns/shop/sa/orders)`,
      `  policy ${join(dir, "policy.yaml")}: 1 listener, 1 entry`,
      "  admin 127.0.0.1:15020",
      "",
    ]);
    // The inbound listen port is held by this test: binding it would have failed the check.
    expect(caConnections).toBe(0);
    expect(res.stdout + res.stderr).not.toContain("secret-token-value");
  });

  it("lists every config error with line:col, as the sidecar start does, and exits 1", async () => {
    const file = await writeConfig("bad.yaml", {
      ca: ["ca:", "  url: http://ca:8443", "  tokenFile: token"], // lines 2-4
      inbound: ["inbound:", "  - name: HTTP", "    listen: 127.0.0.1:0"], // lines 5-7
      admin: ["admin: everywhere"],
    });
    const res = await runCli(["check-config", "--config", file]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    const lines = res.stderr.trim().split("\n");
    for (const expected of [
      /bad\.yaml:3:8: ca\.url: expected an https:\/\/ URL/,
      /bad\.yaml:3:3: ca\.bundleFile: is required/,
      /bad\.yaml:6:11: inbound\[0\]\.name: expected a listener name/,
      /bad\.yaml:6:5: inbound\[0\]\.forward: is required/,
      /bad\.yaml:14:8: admin: expected host:port, got "everywhere"/,
    ]) {
      expect(lines).toContainEqual(expect.stringMatching(expected));
    }
    expect(lines.at(-1)).toBe(`${file}: invalid (${lines.length - 1} errors)`);
  });

  it("lists every policy error with line:col in the policy file, and exits 1", async () => {
    await writePolicy(["version: 1", "listeners:", "  http:", "    allow:", "      - spiffe://Example.org/x", "    alow: []"]);
    const file = await writeConfig("bad-policy.yaml");
    const res = await runCli(["check-config", "--config", file]);
    expect(res.code).toBe(1);
    const policy = join(dir, "policy.yaml");
    expect(res.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(new RegExp(`^${policy}:5:9: listeners\\.http\\.allow\\[0\\]: .*trust domain characters are limited`)),
      `${policy}:6:5: listeners.http.alow: unknown key (expected one of: allow, deny, mode)`,
      `${file}: invalid (2 errors)`,
    ]);
  });

  it("warns how the policy's listeners fit the config's, and about entries of another trust domain, and still exits 0", async () => {
    await writePolicy([
      "version: 1",
      "listeners:",
      "  htpp:", // a typo: the config's listener is http
      "    allow:",
      `      - spiffe://${TD}/ns/web/sa/frontend`,
      "      - spiffe://other.org/ns/web/sa/frontend", // line 6
    ]);
    const file = await writeConfig("fit.yaml");
    const res = await runCli(["check-config", "--config", file]);
    expect(res.code).toBe(0);
    const policy = join(dir, "policy.yaml");
    expect(res.stderr.trim().split("\n")).toEqual([
      `${policy}: warning: listener "htpp": the policy names a listener this sidecar does not have; its entries are ignored`,
      `${policy}: warning: listener "http": inbound listener is not in the policy: it accepts no one`,
      expect.stringMatching(new RegExp(`^${policy}:6:9: warning: listeners\\.htpp\\.allow\\[1\\]: spiffe://other\\.org/ns/web/sa/frontend is in trust domain other\\.org, not example\\.org`)),
    ]);
    expect(res.stdout).toMatch(/: valid\n/);
  });

  it("reports a missing config file, bundle file or policy file, and exits 1", async () => {
    const missing = await runCli(["check-config", "--config", join(dir, "nope.yaml")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.yaml: cannot read the config file: ENOENT/);

    const file = await writeConfig("missing-files.yaml", {
      ca: ["ca:", "  url: https://127.0.0.1:1", "  bundleFile: no-bundle.pem", "  tokenFile: token"],
      policyFile: ["policyFile: no-policy.yaml"],
    });
    const res = await runCli(["check-config", "--config", file]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/missing-files\.yaml: cannot read ca\.bundleFile .*no-bundle\.pem: ENOENT/),
      expect.stringMatching(/missing-files\.yaml: cannot read policyFile .*no-policy\.yaml: ENOENT/),
      `${file}: invalid (2 errors)`,
    ]);
  });

  it("refuses a bundle file that holds no root, as the start does", async () => {
    await writePolicy(GOOD_POLICY);
    await writeFile(join(dir, "not-a-bundle.pem"), "hello\n");
    const file = await writeConfig("bad-bundle.yaml", { ca: ["ca:", "  url: https://127.0.0.1:1", "  bundleFile: not-a-bundle.pem", "  tokenFile: token"] });
    const res = await runCli(["check-config", "--config", file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/bad-bundle\.yaml: ca\.bundleFile .*not-a-bundle\.pem: trust bundle/);
  });

  it("only warns about a token file the kubelet has not written yet, and never prints a join token", async () => {
    await writePolicy(GOOD_POLICY);
    const noToken = await writeConfig("no-token.yaml", { ca: ["ca:", "  url: https://127.0.0.1:1", "  bundleFile: bundle.pem", "  tokenFile: /nonexistent/token"] });
    const res = await runCli(["check-config", "--config", noToken]);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/warning: ca\.tokenFile \/nonexistent\/token cannot be read now .*the sidecar retries until it can/);

    const joinConfig = await writeConfig("join.yaml", { ca: ["ca:", "  url: https://127.0.0.1:1", "  bundleFile: bundle.pem", "  joinToken: ${MESH_JOIN_TOKEN}"] });
    const withToken = await runCli(["check-config", "--config", joinConfig], { env: { ...process.env, MESH_JOIN_TOKEN: "meshjt_supersecret" } });
    expect(withToken.code).toBe(0);
    expect(withToken.stdout + withToken.stderr).not.toContain("supersecret");
  });

  it("exits 2 for usage errors", async () => {
    const none = await runCli(["check-config"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("mesh-sidecar check-config: flag --config is required");
    const unknown = await runCli(["check-config", "--config", "x.yaml", "--policy", "p.yaml"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown flag --policy");
  });
});

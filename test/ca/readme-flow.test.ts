/**
 * docs/ca.md's quick start, run as written with the real programs: the
 * built `mesh-ca` CLI, `openssl req` for the CSR, `curl` for the API, in
 * bash. Only the ports differ (free ones instead of 8443/9090, so parallel
 * tests cannot collide). Ends where the "done when" ends: the
 * metric line `mesh_ca_svid_requests_total{method="join_token",result="issued"} 1`.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts, ManagedProcess, run } from "../helpers/processes.js";
import { expectValidSvid, tempDir } from "./support.js";

const REPO = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..");
const CLI = join(REPO, "dist", "ca", "cli.js");

let dir: Awaited<ReturnType<typeof tempDir>>;
let api: number;
let admin: number;
let serve: ManagedProcess | undefined;

/** Runs a bash script in the work directory with `mesh-ca` defined as in the docs; fails with its output. */
async function sh(script: string): Promise<string> {
  const r = await run({
    command: "bash",
    args: ["-c", `set -euo pipefail\nmesh-ca() { node ${JSON.stringify(CLI)} "$@"; }\n${script}`],
    cwd: dir.path,
  });
  if (r.code !== 0) throw new Error(`script failed (${String(r.code)}):\n${script}\n${r.output}`);
  return r.stdout;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" (npm test does it first)`);
  dir = await tempDir("ca-readme-");
  [api, admin] = (await freePorts(2)) as [number, number];
});

afterAll(async () => {
  await serve?.stop(5_000);
  await dir?.cleanup();
});

describe("the quick start in docs/ca.md", () => {
  it("init → serve → token create → openssl req → curl POST /v1/svid → the issued metric is 1", async () => {
    await sh(`mesh-ca init --trust-domain example.org --dir ca --listen 127.0.0.1:${api} --admin 127.0.0.1:${admin}`);

    serve = new ManagedProcess({ name: "mesh-ca serve", command: process.execPath, args: [CLI, "serve", "--config", "ca/ca.yaml"], cwd: dir.path });
    await serve.waitForLine(/mesh-ca is serving/);

    await sh(`
TOKEN=$(mesh-ca token create --store ca/tokens.json --spiffe-id spiffe://example.org/vm/build-1)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout build-1.key -subj "/CN=build-1" -out build-1.csr
curl -sS --fail-with-body --cacert ca/bundle.pem -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/pkcs10" \\
  --data-binary @build-1.csr https://localhost:${api}/v1/svid > build-1.json
node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).certChain)' < build-1.json > build-1.crt
`);
    const answer = JSON.parse(await readFile(join(dir.path, "build-1.json"), "utf8")) as { spiffeId: string; expiresAt: string };
    expect(answer.spiffeId).toBe("spiffe://example.org/vm/build-1");
    const bundlePem = await readFile(join(dir.path, "ca", "bundle.pem"), "utf8");
    await expectValidSvid(await readFile(join(dir.path, "build-1.crt"), "utf8"), bundlePem, "spiffe://example.org/vm/build-1");

    const metrics = await sh(`curl -sS http://127.0.0.1:${admin}/metrics | grep '^mesh_ca_svid_requests_total{method="join_token"'`);
    expect(metrics.split("\n")).toContain('mesh_ca_svid_requests_total{method="join_token",result="issued"} 1');
  });

  it("renews with curl and the SVID as client certificate, and accepts the JSON body of the contract", async () => {
    await sh(`
curl -sS --fail-with-body --cacert ca/bundle.pem --cert build-1.crt --key build-1.key -H "Content-Type: application/pkcs10" \\
  --data-binary @build-1.csr https://localhost:${api}/v1/svid > renewed.json
TOKEN=$(mesh-ca token create --store ca/tokens.json --spiffe-id spiffe://example.org/vm/build-2 --ttl 1h --uses 1)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout build-2.key -subj "/CN=build-2" -out build-2.csr
node -e 'process.stdout.write(JSON.stringify({ csr: require("fs").readFileSync("build-2.csr", "utf8"), ttl: "30m" }))' > build-2.req.json
curl -sS --fail-with-body --cacert ca/bundle.pem -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
  --data-binary @build-2.req.json https://localhost:${api}/v1/svid > build-2.json
mesh-ca token list --store ca/tokens.json
`);
    const bundlePem = await readFile(join(dir.path, "ca", "bundle.pem"), "utf8");
    const renewed = JSON.parse(await readFile(join(dir.path, "renewed.json"), "utf8")) as { certChain: string };
    await expectValidSvid(renewed.certChain, bundlePem, "spiffe://example.org/vm/build-1");
    const second = JSON.parse(await readFile(join(dir.path, "build-2.json"), "utf8")) as { certChain: string; expiresAt: string };
    await expectValidSvid(second.certChain, bundlePem, "spiffe://example.org/vm/build-2");
    expect(new Date(second.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(30 * 60_000);
    const metrics = await sh(`curl -sS http://127.0.0.1:${admin}/metrics`);
    expect(metrics).toContain('mesh_ca_svid_requests_total{method="renewal",result="issued"} 1');
    expect(metrics).toContain('mesh_ca_svid_requests_total{method="join_token",result="issued"} 2');
  });
});

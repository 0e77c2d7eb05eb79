/**
 * Load for mesh-ca, as its own process on the load core:
 * `node dist/bench/ca/load.js '<CaLoadJob JSON>'` prints one LoadResult line.
 * "ca-issue" is the end-to-end issuance a workload does: a new TLS
 * connection, POST /v1/svid with a bearer token and a CSR, the signed answer.
 * "ca-handshake" is the bare TLS handshake to the same server, the floor the
 * issuance rate is compared with. The CSR (and its key) is made once: the
 * client's own key generation is not what is measured.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { connect, createSecureContext, type SecureContext } from "node:tls";
import { webcrypto } from "node:crypto";
import { x509 } from "../../lib/x509.js";
import type { CaLoadJob, LoadResult } from "../loadgen/jobs.js";
import { readCpuTime } from "../machine/proc.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function newCsr(): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } });
  return csr.toString("pem");
}

function handshake(url: URL, secureContext: SecureContext): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), secureContext });
    socket.once("secureConnect", () => {
      socket.end();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function issue(url: URL, agent: Agent, token: string, body: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      new URL("/v1/svid", url),
      {
        method: "POST",
        agent,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode === 200));
        res.on("error", () => resolve(false));
      },
    );
    req.on("error", () => resolve(false));
    req.end(body);
  });
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "{}") as CaLoadJob;
  const url = new URL(job.url);
  // One context for the whole run: a `ca` option per connection would build a
  // new OpenSSL store each time, and the client, not the CA, would be measured.
  const ctx = createSecureContext({ ca: readFileSync(job.caFile) });
  // No keep-alive and no session cache: every issuance is a new connection and a full handshake.
  const agent = new Agent({ keepAlive: false, maxCachedSessions: 0, secureContext: ctx });
  const body = job.kind === "ca-issue" ? JSON.stringify({ csr: await newCsr() }) : "";
  const once = (): Promise<boolean> => (job.kind === "ca-issue" ? issue(url, agent, job.token ?? "", body) : handshake(url, ctx));
  let counting = false;
  let stop = false;
  let ops = 0;
  let errors = 0;
  const worker = async (): Promise<void> => {
    while (!stop) {
      const ok = await once();
      if (!counting) continue;
      if (ok) ops++;
      else errors++;
    }
  };
  const workers = Array.from({ length: job.concurrency }, worker);
  await sleep(job.warmupMs);
  counting = true;
  const cpu0 = job.cpuPid === undefined ? Number.NaN : readCpuTime(job.cpuPid).total;
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(job.durationMs);
  const seconds = (performance.now() - t0) / 1000;
  const proxyCpu = job.cpuPid === undefined ? Number.NaN : readCpuTime(job.cpuPid).total - cpu0;
  const self = process.cpuUsage(self0);
  counting = false;
  stop = true;
  await Promise.race([Promise.all(workers), sleep(10_000)]);
  const result: LoadResult = { seconds, proxyCpu, loadgenCpu: (self.user + self.system) / 1e6, ops, errors, bytes: 0 };
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`ca-load: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

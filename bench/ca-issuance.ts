/**
 * `npm run bench:ca`: in-process SVID issuance on one core, the way the API
 * does it after authentication (PEM CSR → parse and verify → build → sign → check →
 * PEM), beside the raw node:crypto ECDSA P-256 sign and verify rates
 * measured in the same run. Issuing costs at least one verify and one sign,
 * so the "crypto limit" 1 / (1/sign + 1/verify) is the ceiling; the report
 * gives issuance as a share of it, and the @peculiar/x509 generator path
 * and the lib/spiffe profile check for comparison. Rates are per CPU-second
 * of this process, so a busy machine lowers them less than wall-clock rates;
 * rounds are interleaved so a noisy neighbour hits every figure alike. About
 * 14 s. Writes bench/results/ca-issuance.json too.
 */
import { generateKeyPairSync, sign, verify, webcrypto } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { csrDerFromPem, verifyCsr } from "../ca/signing/csr.js";
import { SigningAuthority } from "../ca/signing/authority.js";
import { createRootCertificate } from "../ca/signing/root.js";
import { SpiffeId, TrustDomain } from "../lib/spiffe/id.js";
import { checkIssuedSvid, newSerialNumberHex } from "../lib/spiffe/svid.js";
import { x509 } from "../lib/x509.js";
import { ratio, spread, type Spread } from "./report/stats.js";

const ROUNDS = 5;
const CSR_POOL = 64;
const td = TrustDomain.parse("bench.example");
const id = SpiffeId.parse("spiffe://bench.example/ns/bench/sa/issuer");

/**
 * Runs fn repeatedly for about `ms` milliseconds of wall time; returns
 * operations per CPU-second of this process (user + system). On a shared
 * machine the wall-clock rate measures how much of a core the scheduler gave
 * us; CPU time measures the work, which is what "per core" means.
 */
function rate(ms: number, fn: (i: number) => void): number {
  let n = 0;
  const start = performance.now();
  const cpu = process.cpuUsage();
  while (performance.now() - start < ms) {
    for (let i = 0; i < 32; i++) fn(n++);
  }
  const used = process.cpuUsage(cpu);
  return n / ((used.user + used.system) / 1e6);
}

/** Like rate() for an async operation, one at a time. */
async function rateAsync(ms: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let n = 0;
  const start = performance.now();
  const cpu = process.cpuUsage();
  while (performance.now() - start < ms) await fn(n++);
  const used = process.cpuUsage(cpu);
  return n / ((used.user + used.system) / 1e6);
}

async function makeCsrPool(): Promise<string[]> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const pool: string[] = [];
  for (let i = 0; i < CSR_POOL; i++) {
    const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=w${i}`, keys, signingAlgorithm: alg });
    pool.push(csr.toString("pem"));
  }
  return pool;
}

function fmt(s: Spread): string {
  return `${Math.round(s.median).toLocaleString("en-US").padStart(8)} /s  (min ${Math.round(s.min).toLocaleString("en-US")}, max ${Math.round(s.max).toLocaleString("en-US")})`;
}

async function main(): Promise<void> {
  console.log(`mesh-ca issuance benchmark — node ${process.versions.node}, OpenSSL ${process.versions.openssl}, ${ROUNDS} interleaved rounds`);
  console.log("rates are operations per CPU-second of this single-threaded process (one core's worth of work)");
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const rootCert = await createRootCertificate({ trustDomain: td, privateKey, notBefore: new Date(Date.now() - 60_000), validityMs: 24 * 3600_000 });
  const rootPem = `${rootCert.toString("pem")}\n`;
  const authority = SigningAuthority.fromMaterial(
    { certPem: rootPem, keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), bundlePem: rootPem },
    { trustDomain: td, now: new Date() },
  );
  const csrs = await makeCsrPool();

  // The raw operations, on the same kind of input: a P-256 key and a TBS-sized message.
  const raw = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const message = Buffer.alloc(420, 7);
  const signature = sign("sha256", message, raw.privateKey);

  // What the API runs: issueChecked = issue + lib/spiffe checkIssuedSvid of the new SVID.
  const issueOne = (i: number): string => {
    const csr = verifyCsr(csrDerFromPem(csrs[i % CSR_POOL] as string));
    const issued = authority.issueChecked({ id, spki: csr.spki, subjectPublicKey: csr.subjectPublicKey, lifetimeMs: 3600_000, backdateMs: 30_000, now: new Date() });
    return issued.chainPem;
  };
  // The same without the check, to show what the check costs.
  const issueUnchecked = (i: number): string => {
    const csr = verifyCsr(csrDerFromPem(csrs[i % CSR_POOL] as string));
    const issued = authority.issue({ id, spki: csr.spki, subjectPublicKey: csr.subjectPublicKey, lifetimeMs: 3600_000, backdateMs: 30_000, now: new Date() });
    return issued.chainPem;
  };
  // Warm up every path once so the first round does not pay for JIT compilation.
  rate(200, issueOne);
  rate(100, issueUnchecked);
  rate(100, () => sign("sha256", message, raw.privateKey));
  rate(100, () => verify("sha256", message, raw.publicKey, signature));

  const signRates: number[] = [];
  const verifyRates: number[] = [];
  const issueRates: number[] = [];
  const uncheckedRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    signRates.push(rate(300, () => sign("sha256", message, raw.privateKey)));
    verifyRates.push(rate(300, () => verify("sha256", message, raw.publicKey, signature)));
    issueRates.push(rate(900, issueOne));
    uncheckedRates.push(rate(500, issueUnchecked));
    process.stdout.write(".");
  }
  process.stdout.write("\n");

  // For comparison, once: the obvious path with @peculiar/x509, and the lib/spiffe check of one SVID.
  const caKey = await webcrypto.subtle.importKey("pkcs8", privateKey.export({ type: "pkcs8", format: "der" }), { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const caPublicKey = await webcrypto.subtle.importKey("spki", rootCert.publicKey.rawData, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
  const libraryRate = await rateAsync(1000, async (i) => {
    const csr = new x509.Pkcs10CertificateRequest(csrs[i % CSR_POOL] as string);
    if (!(await csr.verify())) throw new Error("CSR does not verify");
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: newSerialNumberHex(),
      issuer: rootCert.subjectName,
      notBefore: new Date(),
      notAfter: new Date(Date.now() + 3600_000),
      publicKey: csr.publicKey,
      signingKey: caKey,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(caPublicKey),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: id.toString() }], true),
      ],
    });
    return cert.toString("pem");
  });
  const sample = authority.issue({ id, ...pick(verifyCsr(csrDerFromPem(csrs[0] as string))), lifetimeMs: 3600_000, backdateMs: 30_000, now: new Date() });
  const checkRate = rate(500, () => checkIssuedSvid(sample.der, { now: new Date(), trustDomain: td, expectedId: id }));
  // The route the check took before it read DER: build the library's certificate and decode its extensions.
  const libraryCheckRate = rate(500, () => {
    const cert = new x509.X509Certificate(sample.der);
    if (cert.extensions.length === 0) throw new Error("sample SVID has no extensions");
    checkIssuedSvid(cert, { now: new Date(), trustDomain: td, expectedId: id });
  });

  const s = { sign: spread(signRates), verify: spread(verifyRates), issue: spread(issueRates), unchecked: spread(uncheckedRates) };
  const cryptoLimit = 1 / (1 / s.sign.median + 1 / s.verify.median);
  console.log(`raw crypto.sign   ECDSA P-256      ${fmt(s.sign)}`);
  console.log(`raw crypto.verify ECDSA P-256      ${fmt(s.verify)}`);
  console.log(`crypto limit (1 verify + 1 sign)   ${Math.round(cryptoLimit).toLocaleString("en-US").padStart(8)} /s`);
  console.log(`SVID issuance (fast path, checked) ${fmt(s.issue)}`);
  console.log(`  = ${(ratio(s.issue.median, cryptoLimit) * 100).toFixed(0)}% of the crypto limit; ${ratio(s.issue.median, s.sign.median).toFixed(3)}× raw sign, ${ratio(s.issue.median, s.verify.median).toFixed(3)}× raw verify`);
  console.log(`for comparison: @peculiar/x509 CSR verify + X509CertificateGenerator  ${Math.round(libraryRate).toLocaleString("en-US")} /s (${ratio(s.issue.median, libraryRate).toFixed(1)}× slower than the fast path)`);
  console.log(`without the per-SVID check          ${fmt(s.unchecked)}  (the check costs ${(100 * (1 - s.issue.median / s.unchecked.median)).toFixed(1)}%)`);
  console.log(`for comparison: lib/spiffe checkIssuedSvid of one SVID (DER)          ${Math.round(checkRate).toLocaleString("en-US")} /s (${(1e6 / checkRate).toFixed(1)} µs)`);
  console.log(`for comparison: the same after an @peculiar/x509 parse                 ${Math.round(libraryCheckRate).toLocaleString("en-US")} /s (${(1e6 / libraryCheckRate).toFixed(0)} µs)`);
  console.log(`target: >= 5,000 SVIDs/s on one core — ${s.issue.median >= 5000 ? "met" : "NOT met"} in this run`);

  await mkdir("bench/results", { recursive: true });
  await writeFile(
    "bench/results/ca-issuance.json",
    `${JSON.stringify(
      {
        node: process.versions.node,
        openssl: process.versions.openssl,
        rounds: ROUNDS,
        unit: "operations per CPU-second",
        rawSignPerSecond: s.sign,
        rawVerifyPerSecond: s.verify,
        cryptoLimitPerSecond: cryptoLimit,
        issuancePerSecond: s.issue,
        issuanceShareOfCryptoLimit: ratio(s.issue.median, cryptoLimit),
        issuanceUncheckedPerSecond: s.unchecked,
        libraryPathPerSecond: libraryRate,
        libSpiffeCheckPerSecond: checkRate,
        libSpiffeCheckAfterPeculiarParsePerSecond: libraryCheckRate,
      },
      null,
      2,
    )}\n`,
  );
}

function pick(csr: ReturnType<typeof verifyCsr>): { spki: Buffer; subjectPublicKey: Uint8Array } {
  return { spki: csr.spki, subjectPublicKey: csr.subjectPublicKey };
}

await main();

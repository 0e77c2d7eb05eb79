/**
 * The rotate steps on real CA directories: what each step writes, when it is
 * refused (too early, wrong state, inconsistent directory) and that a
 * refusal changes nothing, --force, and interrupted steps (a crash between a
 * temporary file and its rename, or between two files) leaving a directory
 * that still serves and that the same step finishes. Time is passed in, so
 * waits cost nothing.
 */
import { X509Certificate, generateKeyPairSync } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { TestCa } from "../../test/helpers/test-ca.js";
import { initCa } from "../commands/init.js";
import { loadRotationSettings, type RotationSettings } from "../config.js";
import { CaError } from "../errors.js";
import { SigningAuthority } from "../signing/authority.js";
import { activateRotation } from "./activate.js";
import { atomicFileOps, type FileOps } from "./directory-writer.js";
import { prepareRotation } from "./prepare.js";
import { retireRotation } from "./retire.js";
import { parseRotationRecord, type RotationRecord } from "./rotation-record.js";
import { rotationStatus } from "./status.js";

const TD = TrustDomain.parse("example.org");
const SECOND = 1000;
/** refreshHint 30s → activate 60 s after prepare; maxTtl 2m + backdate 10s → retire 130 s after activate. */
const settings: RotationSettings = loadRotationSettings(
  "trustDomain: example.org\nsvid: { defaultTtl: 1m, maxTtl: 2m, backdate: 10s }\nbundle: { refreshHint: 30s }\nlisten: 0.0.0.0:8443\n",
  "ca.yaml",
);
const ACTIVATE_WAIT = 60 * SECOND;
const RETIRE_WAIT = 130 * SECOND;

let dir: string;
let t0: number;
const at = (ms: number): Date => new Date(t0 + ms);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "rotate-"));
  t0 = Date.now();
  await initCa({ trustDomain: TD, dir, keyType: "ec-p256", validityMs: 48 * 3600_000, force: false, listen: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0 }, now: at(0) });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every file of the directory: content and mode. */
async function snapshot(d = dir): Promise<Record<string, { text: string; mode: number }>> {
  const out: Record<string, { text: string; mode: number }> = {};
  for (const name of (await readdir(d)).sort()) out[name] = { text: await readFile(join(d, name), "utf8"), mode: (await stat(join(d, name))).mode & 0o777 };
  return out;
}

const read = (name: string): Promise<string> => readFile(join(dir, name), "utf8");
const cert = async (name: string): Promise<X509Certificate> => new X509Certificate(await read(name));
const roots = async (): Promise<string[]> => (await read("bundle.pem")).match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)?.map((p) => new X509Certificate(p).fingerprint256) ?? [];
const record = async (): Promise<RotationRecord> => parseRotationRecord(await read("rotation.json"), "rotation.json");

/** What `mesh-ca serve` would sign with: the authority built from ca.crt, ca.key and bundle.pem. */
async function servedSigner(): Promise<string> {
  const a = await SigningAuthority.load({ certFile: join(dir, "ca.crt"), keyFile: join(dir, "ca.key"), bundleFile: join(dir, "bundle.pem") }, { trustDomain: TD, now: new Date() });
  return a.signingCert.fingerprint256;
}

/** The CaError a promise rejects with. */
async function refusal(p: Promise<unknown>): Promise<CaError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CaError);
  return err as CaError;
}

const prepare = (ms = 0, extra: Partial<Parameters<typeof prepareRotation>[1]> = {}) => prepareRotation(dir, { settings, now: at(ms), validityMs: 48 * 3600_000, ...extra });
const activate = (ms: number, extra: { force?: boolean; ops?: FileOps } = {}) => activateRotation(dir, { settings, now: at(ms), ...extra });
const retire = (ms: number, extra: { force?: boolean; ops?: FileOps } = {}) => retireRotation(dir, { settings, now: at(ms), ...extra });

describe("each step's effect on the files", () => {
  it("prepare adds a new root as next and to the bundle; signing and ca.* stay as they were", async () => {
    const before = await snapshot();
    const oldRoot = (await cert("ca.crt")).fingerprint256;
    const report = await prepare(5 * SECOND);
    const after = await snapshot();
    expect(after["ca.crt"]).toEqual(before["ca.crt"]);
    expect(after["ca.key"]).toEqual(before["ca.key"]);
    expect(after["next.key"]?.mode).toBe(0o600);
    const next = await cert("next.crt");
    expect(next.fingerprint256).not.toBe(oldRoot);
    expect(next.checkIssued(next) && next.verify(next.publicKey)).toBe(true);
    expect(next.subject).toMatch(/CN=mesh-ca root \d{8}T\d{6}Z/);
    expect(await roots()).toEqual([oldRoot, next.fingerprint256]);
    expect(await record()).toMatchObject({ mode: "root", state: "prepared", preparedAt: at(5 * SECOND), bundle: { sequence: 2, roots: [oldRoot, next.fingerprint256] } });
    expect((await record()).pending).toBeUndefined();
    expect(await servedSigner()).toBe(oldRoot);
    expect(report.lines.join("\n")).toContain(`safe from ${at(5 * SECOND + ACTIVATE_WAIT).toISOString()}`);
    expect(Object.keys(after)).not.toContain("rotation.lock");
  });

  it("activate makes next the signer and keeps the old pair as previous; the bundle and its sequence stay", async () => {
    await prepare();
    const before = await snapshot();
    const report = await activate(ACTIVATE_WAIT);
    const after = await snapshot();
    expect(report.warnings).toEqual([]);
    expect(after["ca.crt"]?.text).toBe(before["next.crt"]?.text);
    expect(after["ca.key"]).toEqual(before["next.key"]);
    expect(after["previous.crt"]?.text).toBe(before["ca.crt"]?.text);
    expect(after["previous.key"]).toEqual({ text: before["ca.key"]?.text, mode: 0o600 });
    expect(after["next.crt"]).toBeUndefined();
    expect(after["next.key"]).toBeUndefined();
    expect(after["bundle.pem"]).toEqual(before["bundle.pem"]);
    expect(await record()).toMatchObject({ state: "activated", activatedAt: at(ACTIVATE_WAIT), bundle: { sequence: 2 } });
    expect(await servedSigner()).toBe((await cert("ca.crt")).fingerprint256);
    expect(report.lines.join("\n")).toContain(`safe from ${at(ACTIVATE_WAIT + RETIRE_WAIT).toISOString()}`);
  });

  it("retire removes the previous root from the bundle and deletes its files; the sequence goes up", async () => {
    await prepare();
    await activate(ACTIVATE_WAIT);
    const signer = (await cert("ca.crt")).fingerprint256;
    await retire(ACTIVATE_WAIT + RETIRE_WAIT);
    const after = await snapshot();
    expect(Object.keys(after).sort()).toEqual(["bundle.pem", "ca.crt", "ca.key", "ca.yaml", "rotation.json", "tokens.json"]);
    expect(await roots()).toEqual([signer]);
    expect(await record()).toMatchObject({ state: "idle", retiredAt: at(ACTIVATE_WAIT + RETIRE_WAIT), bundle: { sequence: 3, roots: [signer] } });
    expect(await servedSigner()).toBe(signer);
    // A second rotation starts from there.
    await prepare(ACTIVATE_WAIT + RETIRE_WAIT + SECOND);
    expect((await record()).bundle.sequence).toBe(4);
  });

  it("status lists every root with role, fingerprint and notAfter, and the next step with the time it is safe", async () => {
    await prepare();
    const current = await cert("ca.crt");
    const next = await cert("next.crt");
    const text = (await rotationStatus(dir, { settings, now: at(20 * SECOND) })).join("\n");
    expect(text).toContain(`current   ${current.fingerprint256} ${new Date(current.validTo).toISOString()}`);
    expect(text).toContain(`next      ${next.fingerprint256} ${new Date(next.validTo).toISOString()}`);
    expect(text).toContain("sequence 2, 2 roots");
    expect(text).toContain(`next step: mesh-ca rotate activate --dir ${dir}`);
    expect(text).toContain(`safe from ${at(ACTIVATE_WAIT).toISOString()} (in 40s)`);
    await activate(ACTIVATE_WAIT);
    const later = (await rotationStatus(dir, { settings, now: at(ACTIVATE_WAIT + RETIRE_WAIT + SECOND) })).join("\n");
    expect(later).toContain(`previous  ${current.fingerprint256}`);
    expect(later).toContain(`current   ${next.fingerprint256}`);
    expect(later).toMatch(/next step: mesh-ca rotate retire .*\n {2}safe now/);
  });

  it("status repeats --config in the next-step command, so the next step waits by the same timings", async () => {
    await prepare();
    const text = (await rotationStatus(dir, { settings, now: at(SECOND), configFile: "deploy/local/ca.yaml" })).join("\n");
    expect(text).toContain(`next step: mesh-ca rotate activate --dir ${dir} --config deploy/local/ca.yaml\n`);
  });
});

describe("refusals, each changing nothing", () => {
  async function expectUnchanged(step: () => Promise<unknown>, code: string, ...mentions: (string | RegExp)[]): Promise<CaError> {
    const before = await snapshot();
    const err = await refusal(step());
    expect(err.code).toBe(code);
    for (const m of mentions) expect(err.message).toMatch(m);
    expect(await snapshot()).toEqual(before);
    return err;
  }

  it("activate before preparedAt + 2 x refreshHint, saying when it becomes safe", async () => {
    await prepare();
    await expectUnchanged(() => activate(ACTIVATE_WAIT - SECOND), "CA_ROTATION_TOO_EARLY", `activate is not safe before ${at(ACTIVATE_WAIT).toISOString()} (in 1s)`, /refreshHint/, /--force/);
  });

  it("retire before activatedAt + maxTtl + backdate, saying when it becomes safe", async () => {
    await prepare();
    await activate(ACTIVATE_WAIT);
    await expectUnchanged(() => retire(ACTIVATE_WAIT + RETIRE_WAIT - SECOND), "CA_ROTATION_TOO_EARLY", `retire is not safe before ${at(ACTIVATE_WAIT + RETIRE_WAIT).toISOString()}`, /svid\.maxTtl \(2m\)/);
  });

  it("activate with no rotation prepared, and retire with no previous pair", async () => {
    await expectUnchanged(() => activate(ACTIVATE_WAIT), "CA_ROTATION_STATE", /no rotation is prepared/, "next.crt", "rotate prepare");
    await expectUnchanged(() => retire(RETIRE_WAIT), "CA_ROTATION_STATE", /no previous pair to retire/, "previous.crt");
    await prepare();
    await expectUnchanged(() => retire(RETIRE_WAIT), "CA_ROTATION_STATE", /not activated/, "rotate activate");
  });

  it("prepare while a rotation is prepared or not yet retired", async () => {
    await prepare();
    await expectUnchanged(() => prepare(SECOND), "CA_ROTATION_STATE", /already prepared/, "rotate activate");
    await activate(ACTIVATE_WAIT);
    await expectUnchanged(() => prepare(ACTIVATE_WAIT + SECOND), "CA_ROTATION_STATE", /not finished/, "rotate retire");
  });

  it("a missing file, naming it", async () => {
    await prepare();
    await unlink(join(dir, "next.key"));
    await expectUnchanged(() => activate(ACTIVATE_WAIT), "CA_DIRECTORY_INCONSISTENT", `${join(dir, "next.key")} is missing`, /restore it/);
  });

  it("a key that is not its certificate's, naming both", async () => {
    const other = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await writeFile(join(dir, "ca.key"), other, { mode: 0o600 });
    await expectUnchanged(() => prepare(), "CA_DIRECTORY_INCONSISTENT", `${join(dir, "ca.key")} is not the private key of ${join(dir, "ca.crt")}`);
  });

  it("a CA of another trust domain, and a foreign root in the bundle", async () => {
    const foreign = loadRotationSettings("trustDomain: other.org\n", "ca.yaml");
    await expectUnchanged(() => prepareRotation(dir, { settings: foreign, now: at(0), validityMs: 3600_000 }), "CA_DIRECTORY_INCONSISTENT", "ca.crt", /other\.org/);
    const stranger = await TestCa.create({ trustDomain: "other.org" });
    await writeFile(join(dir, "bundle.pem"), (await read("bundle.pem")) + stranger.certPem);
    await expectUnchanged(() => prepare(), "CA_DIRECTORY_INCONSISTENT", "bundle.pem", /root #2 .* belongs to another trust domain/);
  });

  it("a file the state does not call for, an unparsable certificate, and a damaged rotation.json", async () => {
    await writeFile(join(dir, "next.crt"), await read("ca.crt"));
    await expectUnchanged(() => prepare(), "CA_DIRECTORY_INCONSISTENT", `${join(dir, "next.crt")} should not be there`);
    await unlink(join(dir, "next.crt"));
    await prepare();
    await writeFile(join(dir, "next.crt"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    await expectUnchanged(() => activate(ACTIVATE_WAIT), "CA_DIRECTORY_INCONSISTENT", "next.crt");
    await writeFile(join(dir, "rotation.json"), "{not json");
    await expectUnchanged(() => activate(ACTIVATE_WAIT), "CA_DIRECTORY_INCONSISTENT", `${join(dir, "rotation.json")}: not JSON`);
  });

  it("a step while another rotate holds the lock", async () => {
    await writeFile(join(dir, "rotation.lock"), "123\n");
    await expectUnchanged(() => prepare(), "CA_ROTATION_STATE", /another mesh-ca rotate is running/, "rotation.lock");
  });
});

describe("--force", () => {
  it("runs activate and retire early and says what each risks", async () => {
    await prepare();
    const a = await activate(SECOND, { force: true });
    expect(a.warnings.join("\n")).toMatch(/--force: running activate before it is safe .*will refuse peers with SVIDs from the new root/);
    const r = await retire(2 * SECOND, { force: true });
    expect(r.warnings.join("\n")).toMatch(/--force: running retire before it is safe .*refused by every peer \(untrusted\)/);
    expect((await record()).state).toBe("idle");
  });

  it("overrides only the timing, never an inconsistent directory", async () => {
    await prepare();
    await unlink(join(dir, "next.crt"));
    expect((await refusal(activate(SECOND, { force: true }))).code).toBe("CA_DIRECTORY_INCONSISTENT");
  });
});

describe("interrupted steps", () => {
  /** File operations that do the real temporary-file write, then stop before the rename of the `n`-th write (or before the `n`-th removal). */
  function crashing(n: number, where: "before-rename" | "after-write" = "before-rename"): FileOps & { temps: string[] } {
    let count = 0;
    const temps: string[] = [];
    return {
      temps,
      async write(path, text, mode) {
        count++;
        if (count === n && where === "before-rename") {
          const temp = `${path}.tmp-crash`;
          await writeFile(temp, text, { mode });
          temps.push(temp);
          throw new Error("simulated crash between the temporary file and its rename");
        }
        await atomicFileOps.write(path, text, mode);
        if (count === n) throw new Error("simulated crash after this file");
      },
      async remove(path) {
        await atomicFileOps.remove(path);
      },
    };
  }

  it("a crash between a temporary file and its rename leaves the old set in force; the step run again finishes", async () => {
    await prepare();
    const signer = (await cert("ca.crt")).fingerprint256;
    const next = (await cert("next.crt")).fingerprint256;
    // Writes of activate: rotation.json (pending), previous.key, previous.crt, ca.crt, ca.key, rotation.json. Crash on ca.crt.
    const ops = crashing(4);
    await expect(activate(ACTIVATE_WAIT, { ops })).rejects.toThrow(/simulated crash/);
    expect(ops.temps).toEqual([join(dir, "ca.crt.tmp-crash")]);
    expect(await servedSigner()).toBe(signer);
    expect((await record()).pending).toEqual({ step: "activate", from: signer, to: next });
    // Anything but the interrupted step is refused, with the command that finishes it.
    const err = await refusal(retire(ACTIVATE_WAIT + RETIRE_WAIT));
    expect(err.message).toContain(`run mesh-ca rotate activate --dir ${dir} again to finish it`);
    expect((await rotationStatus(dir, { settings, now: at(ACTIVATE_WAIT) })).join("\n")).toContain('"activate" was begun and did not finish');
    const report = await activate(ACTIVATE_WAIT + SECOND);
    expect(report.warnings).toContain("finished an activate that had been interrupted");
    expect(await servedSigner()).toBe(next);
    expect(await record()).toMatchObject({ state: "activated" });
    expect((await record()).pending).toBeUndefined();
  });

  it("a crash between ca.crt and ca.key: serve would refuse that pair (the old set stays in memory); activate run again finishes", async () => {
    await prepare();
    const next = (await cert("next.crt")).fingerprint256;
    await expect(activate(ACTIVATE_WAIT, { ops: crashing(4, "after-write") })).rejects.toThrow(/simulated crash/);
    await expect(servedSigner()).rejects.toThrow(/is not the private key of/);
    await activate(ACTIVATE_WAIT + SECOND);
    expect(await servedSigner()).toBe(next);
    expect(Object.keys(await snapshot())).not.toContain("next.key");
  });

  it("a prepare that stopped after next.key is finished by prepare run again, with a consistent next pair", async () => {
    const signer = (await cert("ca.crt")).fingerprint256;
    // Writes of prepare: rotation.json (pending), next.key, next.crt, bundle.pem, rotation.json.
    await expect(prepare(0, { ops: crashing(2, "after-write") })).rejects.toThrow(/simulated crash/);
    expect(await servedSigner()).toBe(signer);
    expect((await refusal(activate(ACTIVATE_WAIT))).message).toContain("run mesh-ca rotate prepare");
    const report = await prepare(SECOND);
    expect(report.warnings[0]).toMatch(/finished a prepare that had been interrupted/);
    expect(await record()).toMatchObject({ state: "prepared", bundle: { sequence: 2 } });
    await activate(SECOND + ACTIVATE_WAIT);
    expect(await servedSigner()).toBe((await cert("ca.crt")).fingerprint256);
  });

  it("a prepare that stopped after the bundle reuses the next pair it wrote; the bundle's sequence is the same throughout", async () => {
    await expect(prepare(0, { ops: crashing(4, "after-write") })).rejects.toThrow(/simulated crash/);
    const next = (await cert("next.crt")).fingerprint256;
    expect(await roots()).toContain(next);
    await prepare(SECOND);
    expect((await cert("next.crt")).fingerprint256).toBe(next);
    expect((await record()).bundle).toEqual({ sequence: 2, roots: await roots() });
  });

  it("a retire that stopped after the bundle is finished by retire run again", async () => {
    await prepare();
    await activate(ACTIVATE_WAIT);
    const signer = (await cert("ca.crt")).fingerprint256;
    // Writes of retire: rotation.json (pending), bundle.pem, (removals), rotation.json.
    await expect(retire(ACTIVATE_WAIT + RETIRE_WAIT, { ops: crashing(2, "after-write") })).rejects.toThrow(/simulated crash/);
    expect(await roots()).toEqual([signer]);
    expect(await servedSigner()).toBe(signer);
    await retire(ACTIVATE_WAIT + RETIRE_WAIT + SECOND);
    expect(Object.keys(await snapshot())).not.toContain("previous.crt");
    expect(await record()).toMatchObject({ state: "idle", bundle: { sequence: 3, roots: [signer] } });
  });
});

describe("plug-in mode: an intermediate under the same root", () => {
  let root: TestCa;

  beforeEach(async () => {
    root = await TestCa.create({ trustDomain: "example.org" });
    const current = await root.intermediate();
    for (const name of await readdir(dir)) await rm(join(dir, name));
    await writeFile(join(dir, "ca.crt"), current.certPem);
    await writeFile(join(dir, "ca.key"), current.keyPem, { mode: 0o600 });
    await writeFile(join(dir, "bundle.pem"), root.certPem);
  });

  async function given(ca: TestCa): Promise<NonNullable<Parameters<typeof prepareRotation>[1]["intermediate"]>> {
    const certFile = join(dir, "..", `${ca.cert.serialNumber}.crt`);
    return { certPem: ca.certPem, keyPem: ca.keyPem, certFile, keyFile: `${certFile}.key` };
  }

  it("prepare needs the new intermediate; prepare, activate and retire then run at once and never touch the bundle", async () => {
    expect((await refusal(prepare())).message).toMatch(/plug-in mode.*--cert FILE --key FILE/);
    const bundle = await read("bundle.pem");
    const next = await root.intermediate();
    const p = await prepare(0, { intermediate: await given(next) });
    expect(p.lines.join("\n")).toContain("safe at once");
    expect(await record()).toMatchObject({ mode: "intermediate", state: "prepared", bundle: { sequence: 1 } });
    await activate(SECOND);
    expect(await servedSigner()).toBe(new X509Certificate(next.certPem).fingerprint256);
    await retire(2 * SECOND);
    expect(await read("bundle.pem")).toBe(bundle);
    expect(await record()).toMatchObject({ state: "idle", bundle: { sequence: 1 } });
    expect(Object.keys(await snapshot()).sort()).toEqual(["bundle.pem", "ca.crt", "ca.key", "rotation.json"]);
  });

  it("refuses an intermediate under another root, or a root, naming the file given", async () => {
    const stranger = await (await TestCa.create({ trustDomain: "example.org" })).intermediate();
    const g = await given(stranger);
    const err = await refusal(prepare(0, { intermediate: g }));
    expect(err.code).toBe("CA_SIGNING_MATERIAL_INVALID");
    expect(err.message).toContain(`${g.certFile} does not chain to a root in ${join(dir, "bundle.pem")}`);
    const asRoot = await given(await TestCa.create({ trustDomain: "example.org" }));
    expect((await refusal(prepare(0, { intermediate: asRoot }))).message).toContain(`${asRoot.certFile} is a self-signed root, not an intermediate`);
    expect(Object.keys(await snapshot())).not.toContain("rotation.json");
  });
});

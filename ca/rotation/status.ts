/**
 * `rotate status`: every root of the bundle (and, in plug-in mode, every
 * signing certificate) with its role, SHA-256 fingerprint and notAfter; the
 * rotation's state and step times; the next step and when it becomes safe.
 * Reads only; a directory left half way by an interrupted step is reported
 * with the command that finishes it.
 */
import type { X509Certificate } from "node:crypto";
import { checkBase, checkCaDirectory, rotationRecordOf, type DirectoryCheck, type SigningPair } from "./ca-directory.js";
import { CaFiles } from "./ca-files.js";
import { bundleSequence } from "./bundle-sequence.js";
import type { RotationRecord } from "./rotation-record.js";
import { formatWait, type StepOptions } from "./step-support.js";
import { nextStep } from "./step-timing.js";

/** Where status read its timings from, so the next-step command it prints uses the same ones. */
export interface StatusOptions extends Pick<StepOptions, "settings" | "now"> {
  /** The `--config FILE` given to status, repeated in the next-step command; absent: DIR/ca.yaml. */
  readonly configFile?: string | undefined;
}

/** The status report of `dir`, as lines for stdout. */
export async function rotationStatus(dir: string, opts: StatusOptions): Promise<string[]> {
  const config = opts.configFile === undefined ? "" : ` --config ${opts.configFile}`;
  const files = await CaFiles.read(dir);
  const record = rotationRecordOf(files);
  const check = { trustDomain: opts.settings.trustDomain, now: opts.now };
  if (record?.pending) return interrupted(files, record, check, config);
  const d = checkCaDirectory(files, check);
  const roles = new Map<string, string>();
  const signers: [string, SigningPair | undefined][] = [
    ["current", d.current],
    ["next", d.next],
    ["previous", d.previous],
  ];
  for (const [role, pair] of signers) if (pair) roles.set(pair.fingerprint, role);
  const lines = [
    `CA directory ${dir}: trust domain ${opts.settings.trustDomain.name}, ${d.mode === "root" ? "root mode (mesh-ca signs with its own root)" : "plug-in mode (mesh-ca signs with an intermediate of an existing PKI)"}`,
    `trust bundle ${files.path("bundle")}: sequence ${d.sequence}, ${d.bundle.roots.length} root${d.bundle.roots.length === 1 ? "" : "s"}, refresh hint ${formatWait(opts.settings.bundle.refreshHintMs)}`,
    ...table(d.bundle.roots.map((r) => [d.mode === "root" ? (roles.get(r.fingerprint256) ?? "trusted") : "root", r])),
  ];
  if (d.mode === "intermediate") {
    lines.push("signing certificates:", ...table(signers.flatMap(([role, pair]) => (pair ? [[role, pair.cert] as [string, X509Certificate]] : []))));
  }
  lines.push(stateLine(d.state, d.record));
  const { step, safeAt } = nextStep(d.record, opts.settings);
  lines.push(`next step: mesh-ca rotate ${step} --dir ${dir}${config}`);
  if (step === "prepare") lines.push("  no rotation is in progress");
  else if (!safeAt || safeAt.getTime() <= opts.now.getTime()) lines.push(`  safe now${safeAt ? ` (since ${safeAt.toISOString()})` : ""}`);
  else lines.push(`  safe from ${safeAt.toISOString()} (in ${formatWait(safeAt.getTime() - opts.now.getTime())})`);
  lines.push("");
  return lines;
}

function stateLine(state: RotationRecord["state"], record: RotationRecord | undefined): string {
  const at = (d: Date | undefined): string => d?.toISOString() ?? "?";
  if (state === "prepared") return `state: prepared at ${at(record?.preparedAt)}`;
  if (state === "activated") return `state: activated at ${at(record?.activatedAt)} (prepared at ${at(record?.preparedAt)})`;
  return record?.retiredAt ? `state: idle; the last rotation was retired at ${at(record.retiredAt)}` : "state: idle; never rotated";
}

function table(rows: [string, X509Certificate][]): string[] {
  return [
    `  ${"role".padEnd(9)} ${"SHA-256 fingerprint".padEnd(95)} not after`,
    ...rows.map(([role, cert]) => `  ${role.padEnd(9)} ${cert.fingerprint256} ${new Date(cert.validTo).toISOString()}`),
  ];
}

/** A step was begun and not finished: what is known, and the command that finishes it. */
function interrupted(files: CaFiles, record: RotationRecord, check: DirectoryCheck, config: string): string[] {
  const step = record.pending?.step ?? "prepare";
  const lines = [`CA directory ${files.dir}: "${step}" was begun and did not finish (${files.path("record")} marks it pending)`];
  try {
    const { bundle } = checkBase(files, check);
    const sequence = bundleSequence(record, bundle.roots.map((r) => r.fingerprint256));
    lines.push(`trust bundle ${files.path("bundle")}: sequence ${sequence}, ${bundle.roots.length} roots`, ...table(bundle.roots.map((r) => ["root", r])));
  } catch (err) {
    lines.push(`the signing pair does not load right now: ${(err as Error).message}`);
  }
  lines.push(`next step: mesh-ca rotate ${step} --dir ${files.dir}${config} (finishes the interrupted step; mesh-ca serve keeps the last consistent set meanwhile)`, "");
  return lines;
}

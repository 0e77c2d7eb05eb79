/**
 * `mesh-ca rotate prepare|activate|retire|status --dir DIR`: root (or, in
 * plug-in mode, intermediate) rotation without downtime, one step at a time
 * against a CA directory (ca/rotation/). The timings the safety rules use
 * come from DIR/ca.yaml, or from --config FILE (the ca.yaml mesh-ca serve
 * runs with, e.g. the cluster's).
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../../lib/cli/flags.js";
import { ConfigError } from "../../lib/config/errors.js";
import { readRotationSettingsFile, type RotationSettings } from "../config.js";
import { CaError, CaErrorCode } from "../errors.js";
import { activateRotation } from "../rotation/activate.js";
import { prepareRotation } from "../rotation/prepare.js";
import { retireRotation } from "../rotation/retire.js";
import { rotationStatus } from "../rotation/status.js";
import type { StepReport } from "../rotation/step-support.js";
import { CA_KEY_TYPES, type CaKeyType } from "../signing/keys.js";
import { FlagProblems, type CommandContext } from "./context.js";
import { DEFAULT_VALIDITY, parseKeyType, parseValidity } from "./init.js";

const DIR_FLAG = { type: "string", required: true, placeholder: "DIR", description: "the CA directory (made by mesh-ca init; a local copy of the Secret in Kubernetes)" } as const;
const CONFIG_FLAG = {
  type: "string",
  placeholder: "FILE",
  description: "ca.yaml to take trustDomain, svid.maxTtl, svid.backdate and bundle.refreshHint from (default DIR/ca.yaml)",
} as const;
const FORCE_FLAG = { type: "boolean", description: "run the step before it is safe (prints what that risks)" } as const;

export const ROTATE_PREPARE_FLAGS = {
  dir: DIR_FLAG,
  config: CONFIG_FLAG,
  "key-type": { type: "string", placeholder: "TYPE", description: `root mode: the new root's key, ${CA_KEY_TYPES.join(", ")} (default the current root's)` },
  validity: { type: "string", placeholder: "DURATION", description: `root mode: the new root's lifetime (default ${DEFAULT_VALIDITY}, 10 years)` },
  cert: { type: "string", placeholder: "FILE", description: "plug-in mode: the new intermediate certificate (PEM, then its intermediates)" },
  key: { type: "string", placeholder: "FILE", description: "plug-in mode: the new intermediate's private key (PEM)" },
} satisfies FlagSpecs;
export const ROTATE_ACTIVATE_FLAGS = { dir: DIR_FLAG, config: CONFIG_FLAG, force: FORCE_FLAG } satisfies FlagSpecs;
export const ROTATE_RETIRE_FLAGS = { dir: DIR_FLAG, config: CONFIG_FLAG, force: FORCE_FLAG } satisfies FlagSpecs;
export const ROTATE_STATUS_FLAGS = { dir: DIR_FLAG, config: CONFIG_FLAG } satisfies FlagSpecs;

const USAGE = `Usage: mesh-ca rotate prepare|activate|retire|status --dir DIR [flags]

Replace the CA's root (or, on an existing PKI, its intermediate) without downtime:

  prepare    make the next root and add it to the bundle; signing is unchanged
  activate   sign with the next root; the current one is kept as previous
  retire     remove the previous root from the bundle and delete its key
  status     every root with its role, fingerprint and expiry; the next step and when it is safe

activate waits 2 x bundle.refreshHint after prepare, retire waits svid.maxTtl +
svid.backdate after activate; --force runs a step early and says what it risks.
Run "mesh-ca rotate <step> --help" for its flags. Reference: docs/ca.md
`;

/** Runs `mesh-ca rotate ...`; returns the exit code. */
export async function runRotate(argv: string[], ctx: CommandContext): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "prepare":
      return rotatePrepare(rest, ctx);
    case "activate":
    case "retire":
      return rotateStep(sub, rest, ctx);
    case "status":
      return rotateStatus(rest, ctx);
    case undefined:
    case "--help":
    case "-h":
    case "help":
      (sub === undefined ? ctx.stderr : ctx.stdout).write(USAGE);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`mesh-ca rotate: unknown step "${sub}"; expected prepare, activate, retire or status\nrun "mesh-ca rotate --help" for usage`);
  }
}

async function rotatePrepare(argv: string[], ctx: CommandContext): Promise<number> {
  const command = "mesh-ca rotate prepare";
  const flags = parseFlags(command, argv, ROTATE_PREPARE_FLAGS);
  if (flags.help) {
    ctx.stdout.write(formatHelp(command, "Make the next root (or take the next intermediate), add it to the bundle; signing stays as it is.", ROTATE_PREPARE_FLAGS));
    return 0;
  }
  const problems = new FlagProblems(command);
  const keyType = flags["key-type"] === undefined ? undefined : problems.check("key-type", () => parseKeyType(flags["key-type"] as string));
  const validityMs = problems.check("validity", () => parseValidity(flags.validity ?? DEFAULT_VALIDITY));
  if ((flags.cert === undefined) !== (flags.key === undefined)) problems.check(flags.cert === undefined ? "cert" : "key", () => fail("--cert and --key go together"));
  if (flags.cert !== undefined && (flags["key-type"] !== undefined || flags.validity !== undefined)) {
    problems.check("cert", () => fail("--key-type and --validity are for a new root; an intermediate from --cert brings its own"));
  }
  problems.throwIfAny();
  const dir = resolve(flags.dir as string);
  const settings = await settingsFor(dir, flags.config);
  const intermediate = flags.cert === undefined ? undefined : await readIntermediate(resolve(flags.cert), resolve(flags.key as string));
  const report = await prepareRotation(dir, {
    settings,
    now: new Date(ctx.clock.now()),
    validityMs: validityMs as number,
    ...(keyType ? { keyType: keyType as CaKeyType } : {}),
    ...(intermediate ? { intermediate } : {}),
  });
  return print(report, ctx);
}

async function rotateStep(step: "activate" | "retire", argv: string[], ctx: CommandContext): Promise<number> {
  const command = `mesh-ca rotate ${step}`;
  const specs = step === "activate" ? ROTATE_ACTIVATE_FLAGS : ROTATE_RETIRE_FLAGS;
  const flags = parseFlags(command, argv, specs);
  if (flags.help) {
    const summary =
      step === "activate"
        ? "Sign with the prepared next pair; keep the current one as previous. Refused before preparedAt + 2 x bundle.refreshHint."
        : "Remove the previous root from the bundle and delete its key. Refused before activatedAt + svid.maxTtl + svid.backdate.";
    ctx.stdout.write(formatHelp(command, summary, specs));
    return 0;
  }
  const dir = resolve(flags.dir as string);
  const settings = await settingsFor(dir, flags.config);
  const opts = { settings, now: new Date(ctx.clock.now()), force: flags.force };
  return print(step === "activate" ? await activateRotation(dir, opts) : await retireRotation(dir, opts), ctx);
}

async function rotateStatus(argv: string[], ctx: CommandContext): Promise<number> {
  const command = "mesh-ca rotate status";
  const flags = parseFlags(command, argv, ROTATE_STATUS_FLAGS);
  if (flags.help) {
    ctx.stdout.write(formatHelp(command, "Show every root (role, fingerprint, notAfter), the rotation's state, the next step and when it is safe.", ROTATE_STATUS_FLAGS));
    return 0;
  }
  const dir = resolve(flags.dir as string);
  const settings = await settingsFor(dir, flags.config);
  ctx.stdout.write((await rotationStatus(dir, { settings, now: new Date(ctx.clock.now()), configFile: flags.config })).join("\n"));
  return 0;
}

function print(report: StepReport, ctx: CommandContext): number {
  for (const w of report.warnings) ctx.stderr.write(`mesh-ca: ${w}\n`);
  ctx.stdout.write(report.lines.join("\n"));
  return 0;
}

function fail(message: string): never {
  throw new Error(message);
}

/** The rotation settings of --config, or of DIR/ca.yaml; ConfigError (exit 2) saying to pass --config when neither is there. */
async function settingsFor(dir: string, config: string | undefined): Promise<RotationSettings> {
  const file = config === undefined ? join(dir, "ca.yaml") : resolve(config);
  try {
    return await readRotationSettingsFile(file);
  } catch (err) {
    if (err instanceof ConfigError && config === undefined && err.issues.some((i) => i.path === "" && i.message.startsWith("cannot read"))) {
      throw new ConfigError(file, [
        { path: "", message: "cannot read it; pass --config FILE, the ca.yaml mesh-ca serve runs with, so rotate knows the trust domain, svid.maxTtl, svid.backdate and bundle.refreshHint" },
      ]);
    }
    throw err;
  }
}

async function readIntermediate(certFile: string, keyFile: string): Promise<{ certPem: string; keyPem: string; certFile: string; keyFile: string }> {
  const read = async (file: string): Promise<string> => {
    try {
      return await readFile(file, "utf8");
    } catch (err) {
      throw new CaError(CaErrorCode.SIGNING_MATERIAL_INVALID, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  return { certPem: await read(certFile), keyPem: await read(keyFile), certFile, keyFile };
}

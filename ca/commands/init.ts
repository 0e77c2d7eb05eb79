/**
 * `mesh-ca init`: a new trust domain's root and a working directory for
 * `mesh-ca serve`: ca.key (0600), ca.crt, bundle.pem, an empty join-token
 * store tokens.json (0600) and ca.yaml with relative paths, so
 * `mesh-ca serve --config DIR/ca.yaml` runs from anywhere as it is.
 */
import { createHash } from "node:crypto";
import { access, chmod, mkdir, readdir } from "node:fs/promises";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { formatHelp, parseFlags, type FlagSpecs } from "../../lib/cli/flags.js";
import { formatDuration, parseDuration } from "../../lib/duration.js";
import { formatHostPort, parseHostPort, type HostPort } from "../../lib/net/address.js";
import { TrustDomain } from "../../lib/spiffe/id.js";
import { CA_DEFAULTS } from "../config.js";
import { CaError, CaErrorCode } from "../errors.js";
import { CA_KEY_TYPES, generateCaKey, type CaKeyType } from "../signing/keys.js";
import { createRootCertificate } from "../signing/root.js";
import { createEmptyTokenStore, writeFileAtomic } from "../tokens/store.js";
import { FlagProblems, type CommandContext } from "./context.js";

const COMMAND = "mesh-ca init";
/** Root lifetime when --validity is not given (10 years); `rotate prepare` uses the same. */
export const DEFAULT_VALIDITY = "87600h";
const MIN_VALIDITY_MS = 3600_000;
const MAX_VALIDITY_MS = 100 * 365 * 24 * 3600_000;

export const INIT_FLAGS = {
  "trust-domain": { type: "string", required: true, placeholder: "TD", description: "trust domain, e.g. example.org" },
  dir: { type: "string", required: true, placeholder: "DIR", description: "directory to write ca.key, ca.crt, bundle.pem, tokens.json and ca.yaml into" },
  "key-type": { type: "string", placeholder: "TYPE", description: `root key: ${CA_KEY_TYPES.join(", ")} (default ec-p256)` },
  validity: { type: "string", placeholder: "DURATION", description: `root certificate lifetime (default ${DEFAULT_VALIDITY}, 10 years)` },
  force: { type: "boolean", description: "overwrite existing files (the old root stops being trusted)" },
  listen: { type: "string", placeholder: "HOST:PORT", description: `API address written to ca.yaml (default ${CA_DEFAULTS.listen})` },
  admin: { type: "string", placeholder: "HOST:PORT", description: `admin address written to ca.yaml (default ${CA_DEFAULTS.admin})` },
} satisfies FlagSpecs;

/** Everything `init` needs, already validated. */
export interface InitOptions {
  trustDomain: TrustDomain;
  dir: string;
  keyType: CaKeyType;
  validityMs: number;
  force: boolean;
  listen: HostPort;
  admin: HostPort;
  now: Date;
}

/** Paths `init` wrote. */
export interface InitResult {
  keyFile: string;
  certFile: string;
  bundleFile: string;
  tokenStoreFile: string;
  configFile: string;
  /** SHA-256 fingerprint of the root, colon-separated hex. */
  fingerprint: string;
}

/** Runs `mesh-ca init` with command-line arguments; returns the exit code. */
export async function runInit(argv: string[], ctx: CommandContext): Promise<number> {
  const flags = parseFlags(COMMAND, argv, INIT_FLAGS);
  if (flags.help) {
    ctx.stdout.write(formatHelp(COMMAND, "Create a root CA for a trust domain and a working config for mesh-ca serve.", INIT_FLAGS));
    return 0;
  }
  const problems = new FlagProblems(COMMAND);
  const trustDomain = problems.check("trust-domain", () => TrustDomain.parse(flags["trust-domain"] ?? ""));
  const keyType = problems.check("key-type", () => parseKeyType(flags["key-type"] ?? "ec-p256"));
  const validityMs = problems.check("validity", () => parseValidity(flags.validity ?? DEFAULT_VALIDITY));
  const listen = problems.check("listen", () => parseAddress(flags.listen ?? CA_DEFAULTS.listen));
  const admin = problems.check("admin", () => parseAddress(flags.admin ?? CA_DEFAULTS.admin));
  problems.throwIfAny();
  const result = await initCa({
    trustDomain: trustDomain as TrustDomain,
    dir: resolve(flags.dir ?? "."),
    keyType: keyType as CaKeyType,
    validityMs: validityMs as number,
    force: flags.force,
    listen: listen as HostPort,
    admin: admin as HostPort,
    now: new Date(ctx.clock.now()),
  });
  ctx.stdout.write(
    [
      `created a root CA for trust domain ${(trustDomain as TrustDomain).name} (${keyType}, valid ${formatDuration(validityMs as number)})`,
      `  root certificate  ${result.certFile}`,
      `  private key       ${result.keyFile} (mode 0600: keep it secret)`,
      `  trust bundle      ${result.bundleFile} (give this to workloads and curl --cacert)`,
      `  join-token store  ${result.tokenStoreFile}`,
      `  config            ${result.configFile}`,
      `  SHA-256 fingerprint ${result.fingerprint}`,
      "",
      `next: mesh-ca serve --config ${result.configFile}`,
      "",
    ].join("\n"),
  );
  return 0;
}

/** A --key-type value; throws Error naming the choices. */
export function parseKeyType(value: string): CaKeyType {
  if ((CA_KEY_TYPES as readonly string[]).includes(value)) return value as CaKeyType;
  throw new Error(`expected one of ${CA_KEY_TYPES.join(", ")}, got "${value}"`);
}

/** A --validity value in milliseconds, 1h to 100 years; throws Error. */
export function parseValidity(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new Error(`expected a duration such as 87600h, got "${value}"`);
  if (ms < MIN_VALIDITY_MS || ms > MAX_VALIDITY_MS) throw new Error(`must be between 1h and ${MAX_VALIDITY_MS / 3600_000}h, got "${value}"`);
  return ms;
}

function parseAddress(value: string): HostPort {
  const parsed = parseHostPort(value, { allowZero: true });
  if (!parsed) throw new Error(`expected host:port, got "${value}"`);
  return parsed;
}

/** The files `init` writes, by role; nothing else belongs in a directory it creates. */
const INIT_FILES = { keyFile: "ca.key", certFile: "ca.crt", bundleFile: "bundle.pem", tokenStoreFile: "tokens.json", configFile: "ca.yaml" } as const;

/**
 * Creates the CA directory. Without `force` it refuses (CaError) a directory
 * that holds files it did not write (DIR_NOT_EMPTY: a root key written into a
 * source tree is one `git add .` from being committed) and one that already
 * holds its files (WOULD_OVERWRITE).
 */
export async function initCa(opts: InitOptions): Promise<InitResult> {
  const files = Object.fromEntries(Object.entries(INIT_FILES).map(([role, name]) => [role, join(opts.dir, name)])) as Record<keyof typeof INIT_FILES, string>;
  if (!opts.force) {
    const own = new Set<string>(Object.values(INIT_FILES));
    const foreign = (await readdir(opts.dir).catch(() => [] as string[])).filter((name) => !own.has(name)).sort();
    if (foreign.length > 0) {
      const shown = foreign.slice(0, 5).join(", ") + (foreign.length > 5 ? `, and ${foreign.length - 5} more` : "");
      throw new CaError(
        CaErrorCode.DIR_NOT_EMPTY,
        `${opts.dir} already holds files mesh-ca init did not write (${shown}); ` +
          "give --dir a new or empty directory outside any source checkout (the root's private key goes there), or pass --force to write beside them",
      );
    }
    const existing: string[] = [];
    for (const path of Object.values(files)) {
      if (await access(path).then(() => true, () => false)) existing.push(path);
    }
    if (existing.length > 0) {
      throw new CaError(
        CaErrorCode.WOULD_OVERWRITE,
        `${existing.join(", ")} already exist${existing.length === 1 ? "s" : ""}; pass --force to replace them ` +
          "(SVIDs issued by the old root will no longer be trusted)",
      );
    }
  }
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const { privateKey } = await generateCaKey(opts.keyType);
  const cert = await createRootCertificate({
    trustDomain: opts.trustDomain,
    privateKey,
    notBefore: new Date(opts.now.getTime() - CA_DEFAULTS.backdateMs),
    validityMs: opts.validityMs,
  });
  const certPem = `${cert.toString("pem")}\n`;
  await writeFileAtomic(files.keyFile, privateKey.export({ type: "pkcs8", format: "pem" }).toString(), 0o600);
  await chmod(files.keyFile, 0o600);
  await writeFileAtomic(files.certFile, certPem, 0o644);
  await writeFileAtomic(files.bundleFile, certPem, 0o644);
  await createEmptyTokenStore(files.tokenStoreFile);
  await writeFileAtomic(files.configFile, caYaml(opts), 0o644);
  const digest = createHash("sha256").update(new Uint8Array(cert.rawData)).digest("hex").toUpperCase();
  return { ...files, fingerprint: digest.match(/../g)?.join(":") ?? digest };
}

/** The ca.yaml `init` writes: defaults spelled out where a user is likely to change them. */
function caYaml(opts: InitOptions): string {
  const names: string[] = [...CA_DEFAULTS.serverNames];
  const host = opts.listen.host;
  const wildcard = host === "0.0.0.0" || host === "::";
  if (!wildcard && !names.includes(host) && (isIP(host) !== 0 || /^[a-z0-9.-]+$/.test(host))) names.push(host);
  return `# mesh-ca config written by "mesh-ca init" on ${opts.now.toISOString()}.
# Every key and its default: docs/configuration.md. Paths are relative to this file.
trustDomain: ${opts.trustDomain.name}
listen: ${formatHostPort(opts.listen)}            # HTTPS issuance API
admin: ${formatHostPort(opts.admin)}             # plain HTTP: /metrics, /healthz, /readyz
serverNames: [${names.join(", ")}]   # names in the API's serving certificate
signing:
  certFile: ca.crt
  keyFile: ca.key
  bundleFile: bundle.pem
svid:
  defaultTtl: 1h
  maxTtl: 24h
attestation:
  joinTokens:
    storeFile: tokens.json          # mesh-ca token create --store ${join(opts.dir, "tokens.json")} ...
  # In a Kubernetes cluster, also accept projected service-account tokens:
  # kubernetes:
  #   mode: tokenReview
  #   audience: mesh-ca
limits:
  ratePerIdentity: 10               # SVID requests per identity per minute
  rateBurst: 20
shutdownGrace: 25s
log:
  level: info
`;
}

/**
 * `mesh-ca issue`: offline issuance by whoever holds the signing key (for
 * bootstrap, tests and trying things by hand). Reads DIR/ca.crt, DIR/ca.key,
 * DIR/bundle.pem and, if present, DIR/chain.pem (the layout `init` writes),
 * makes a P-256 key, and writes PREFIX.key (0600), PREFIX.crt (leaf then
 * intermediates) and PREFIX.bundle.pem, ready for
 * `curl --cert PREFIX.crt --key PREFIX.key --cacert PREFIX.bundle.pem`.
 * The SVID goes through the same signing path as the server's, plus the
 * full lib/spiffe profile check.
 */
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { formatHelp, parseFlags, type FlagSpecs } from "../../lib/cli/flags.js";
import { formatDuration, parseDuration } from "../../lib/duration.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { CA_DEFAULTS } from "../config.js";
import { CaError, CaErrorCode } from "../errors.js";
import { SigningAuthority, type IssuedCertificate } from "../signing/authority.js";
import { AuthorityError } from "../signing/errors.js";
import { generateWorkloadKey, spkiDer, subjectPublicKeyOf } from "../signing/keys.js";
import { writeFileAtomic } from "../tokens/store.js";
import { FlagProblems, type CommandContext } from "./context.js";

const COMMAND = "mesh-ca issue";
const MIN_TTL_MS = 10_000;

export const ISSUE_FLAGS = {
  dir: { type: "string", required: true, placeholder: "DIR", description: "CA directory made by mesh-ca init (ca.crt, ca.key, bundle.pem[, chain.pem])" },
  "spiffe-id": { type: "string", required: true, placeholder: "ID", description: "SPIFFE ID of the SVID, e.g. spiffe://example.org/ns/shop/sa/orders" },
  out: { type: "string", required: true, placeholder: "PREFIX", description: "write PREFIX.key, PREFIX.crt and PREFIX.bundle.pem" },
  ttl: { type: "string", placeholder: "DURATION", description: "lifetime (default 1h, at most 24h)" },
} satisfies FlagSpecs;

/** Options of issueSvidFiles. */
export interface IssueOptions {
  dir: string;
  id: SpiffeId;
  outPrefix: string;
  ttlMs: number;
  now: Date;
}

/** Paths written by issueSvidFiles, and the certificate. */
export interface IssueResult {
  keyFile: string;
  certFile: string;
  bundleFile: string;
  issued: IssuedCertificate;
}

/** Runs `mesh-ca issue`; returns the exit code. */
export async function runIssue(argv: string[], ctx: CommandContext): Promise<number> {
  const flags = parseFlags(COMMAND, argv, ISSUE_FLAGS);
  if (flags.help) {
    ctx.stdout.write(formatHelp(COMMAND, "Issue an X.509-SVID offline with the CA's key.", ISSUE_FLAGS));
    return 0;
  }
  const problems = new FlagProblems(COMMAND);
  const id = problems.check("spiffe-id", () => {
    const parsed = SpiffeId.parse(flags["spiffe-id"] ?? "");
    if (parsed.isRoot) throw new Error("an SVID's ID needs a path, e.g. spiffe://example.org/ns/shop/sa/orders");
    return parsed;
  });
  const ttlMs = problems.check("ttl", () => parseTtl(flags.ttl ?? "1h"));
  problems.throwIfAny();
  const result = await issueSvidFiles({ dir: resolve(flags.dir ?? "."), id: id as SpiffeId, outPrefix: resolve(flags.out ?? ""), ttlMs: ttlMs as number, now: new Date(ctx.clock.now()) });
  ctx.stdout.write(
    [
      `issued ${result.issued.id.toString()} (serial ${result.issued.serialHex}, expires ${result.issued.notAfter.toISOString()})`,
      `  key         ${result.keyFile}`,
      `  certificate ${result.certFile}`,
      `  bundle      ${result.bundleFile}`,
      "",
    ].join("\n"),
  );
  return 0;
}

function parseTtl(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new Error(`expected a duration such as 1h, got "${value}"`);
  if (ms < MIN_TTL_MS || ms > CA_DEFAULTS.maxTtlMs) throw new Error(`must be between 10s and ${formatDuration(CA_DEFAULTS.maxTtlMs)}, got "${value}"`);
  return ms;
}

/** Issues an SVID with the CA in `dir` and writes the three files; throws CaError. */
export async function issueSvidFiles(opts: IssueOptions): Promise<IssueResult> {
  const read = async (name: string, optional = false): Promise<string | undefined> => {
    try {
      return await readFile(join(opts.dir, name), "utf8");
    } catch (err) {
      if (optional && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new CaError(CaErrorCode.SIGNING_MATERIAL_INVALID, `cannot read ${join(opts.dir, name)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const material = {
    certPem: (await read("ca.crt")) as string,
    keyPem: (await read("ca.key")) as string,
    bundlePem: (await read("bundle.pem")) as string,
    chainPem: await read("chain.pem", true),
  };
  const names = { certFile: join(opts.dir, "ca.crt"), keyFile: join(opts.dir, "ca.key"), bundleFile: join(opts.dir, "bundle.pem"), chainFile: join(opts.dir, "chain.pem") };
  let issued: IssuedCertificate;
  let authority: SigningAuthority;
  const { privateKey, publicKey } = await generateWorkloadKey();
  const spki = spkiDer(publicKey);
  try {
    authority = SigningAuthority.fromMaterial(material, { trustDomain: opts.id.trustDomain, now: opts.now }, names);
    issued = authority.issueChecked({
      id: opts.id,
      spki,
      subjectPublicKey: subjectPublicKeyOf(spki),
      lifetimeMs: opts.ttlMs,
      backdateMs: CA_DEFAULTS.backdateMs,
      now: opts.now,
    });
  } catch (err) {
    if (err instanceof AuthorityError) throw new CaError(CaErrorCode.SIGNING_MATERIAL_INVALID, err.message, { cause: err });
    throw err;
  }
  const result = {
    keyFile: `${opts.outPrefix}.key`,
    certFile: `${opts.outPrefix}.crt`,
    bundleFile: `${opts.outPrefix}.bundle.pem`,
    issued,
  };
  await mkdir(dirname(opts.outPrefix), { recursive: true });
  await writeFileAtomic(result.keyFile, privateKey.export({ type: "pkcs8", format: "pem" }).toString(), 0o600);
  await writeFileAtomic(result.certFile, issued.chainPem, 0o644);
  await writeFileAtomic(result.bundleFile, authority.bundle.pem, 0o644);
  return result;
}

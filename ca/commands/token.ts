/**
 * `mesh-ca token create|list|revoke`: join tokens in a store file. `create`
 * prints the token once, alone on stdout (so `TOKEN=$(mesh-ca token create
 * ...)` works), and the details on stderr; `list` shows ids and states,
 * never a token; `revoke` takes effect on the CA's next request.
 */
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../../lib/cli/flags.js";
import { formatDuration, parseDuration } from "../../lib/duration.js";
import { SpiffeId } from "../../lib/spiffe/id.js";
import { CaError, CaErrorCode } from "../errors.js";
import { generateJoinToken } from "../tokens/join-token.js";
import { readTokenStore, tokenState, updateTokenStore, type JoinTokenRecord } from "../tokens/store.js";
import { FlagProblems, type CommandContext } from "./context.js";
import { storeTrustDomain } from "./store-trust-domain.js";

const DEFAULT_TTL = "24h";
const MAX_TTL_MS = 365 * 24 * 3600_000;
const MAX_USES = 1_000_000;

const STORE_FLAG = { type: "string", required: true, placeholder: "FILE", description: "join-token store (tokens.json from mesh-ca init)" } as const;

export const TOKEN_CREATE_FLAGS = {
  store: STORE_FLAG,
  "spiffe-id": { type: "string", required: true, placeholder: "ID", description: "the one SPIFFE ID the token can obtain, e.g. spiffe://example.org/vm/build-1" },
  ttl: { type: "string", placeholder: "DURATION", description: `how long the token can be used (default ${DEFAULT_TTL})` },
  uses: { type: "string", placeholder: "N", description: "how many SVIDs it can obtain (default 1)" },
  "trust-domain": {
    type: "string",
    placeholder: "TD",
    description: "the CA's trust domain, which the ID must belong to (default: trustDomain of --config, or of the ca.yaml beside the store)",
  },
  config: { type: "string", placeholder: "FILE", description: "the CA's config, for its trust domain (default: ca.yaml beside the store, as mesh-ca init writes it)" },
} satisfies FlagSpecs;

export const TOKEN_LIST_FLAGS = {
  store: STORE_FLAG,
  json: { type: "boolean", description: "print JSON instead of a table" },
} satisfies FlagSpecs;

export const TOKEN_REVOKE_FLAGS = {
  store: STORE_FLAG,
  id: { type: "string", required: true, placeholder: "TOKEN_ID", description: "the token's id as shown by create and list (12 hex digits)" },
} satisfies FlagSpecs;

const USAGE = `Usage: mesh-ca token create|list|revoke [flags]

Join tokens let workloads outside Kubernetes obtain their first SVID.

  create   make a token bound to one SPIFFE ID (printed once)
  list     show tokens: id, SPIFFE ID, state, uses left, expiry
  revoke   revoke a token by id

Run "mesh-ca token <subcommand> --help" for its flags.
`;

/** Runs `mesh-ca token ...`; returns the exit code. */
export async function runToken(argv: string[], ctx: CommandContext): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "create":
      return tokenCreate(rest, ctx);
    case "list":
      return tokenList(rest, ctx);
    case "revoke":
      return tokenRevoke(rest, ctx);
    case undefined:
    case "--help":
    case "-h":
    case "help":
      ctx.stdout.write(USAGE);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`mesh-ca token: unknown subcommand "${sub}"; expected create, list or revoke\nrun "mesh-ca token --help" for usage`);
  }
}

async function tokenCreate(argv: string[], ctx: CommandContext): Promise<number> {
  const command = "mesh-ca token create";
  const flags = parseFlags(command, argv, TOKEN_CREATE_FLAGS);
  if (flags.help) {
    ctx.stdout.write(formatHelp(command, "Create a join token bound to one SPIFFE ID; it is printed once.", TOKEN_CREATE_FLAGS));
    return 0;
  }
  const problems = new FlagProblems(command);
  const found = await storeTrustDomain({ store: flags.store as string, trustDomainFlag: flags["trust-domain"], configFlag: flags.config, env: ctx.env });
  const domain = "problem" in found ? undefined : found;
  if ("problem" in found) {
    problems.check(flags.config === undefined ? "trust-domain" : "config", () => {
      throw new Error(found.problem.replace(/^--trust-domain: /, ""));
    });
  }
  const id = problems.check("spiffe-id", () => {
    const parsed = SpiffeId.parse(flags["spiffe-id"] ?? "");
    if (parsed.isRoot) throw new Error("a workload ID needs a path, e.g. spiffe://example.org/vm/build-1");
    if (domain && !domain.trustDomain.equals(parsed.trustDomain)) {
      // The CA would refuse the token only when it is used; say so now, while it can be fixed.
      throw new Error(
        `${parsed.toString()} is not in the trust domain ${domain.trustDomain.name} of the CA this store belongs to (${domain.source}), which would refuse the token when it is used: ` +
          `use an ID of the form spiffe://${domain.trustDomain.name}/..., or give --trust-domain / --config if the store belongs to another CA`,
      );
    }
    return parsed;
  });
  const ttlMs = problems.check("ttl", () => {
    const ms = parseDuration(flags.ttl ?? DEFAULT_TTL);
    if (ms === undefined || ms < 60_000 || ms > MAX_TTL_MS) throw new Error(`expected a duration from 1m to 8760h, got "${flags.ttl}"`);
    return ms;
  });
  const uses = problems.check("uses", () => {
    const n = Number(flags.uses ?? "1");
    if (!Number.isInteger(n) || n < 1 || n > MAX_USES) throw new Error(`expected a whole number from 1 to ${MAX_USES}, got "${flags.uses}"`);
    return n;
  });
  problems.throwIfAny();
  const now = new Date(ctx.clock.now());
  const made = generateJoinToken();
  const record: JoinTokenRecord = {
    id: made.id,
    hash: made.hash,
    spiffeId: id as SpiffeId,
    createdAt: now,
    expiresAt: new Date(now.getTime() + (ttlMs as number)),
    usesLeft: uses as number,
    revoked: false,
  };
  await updateTokenStore(flags.store as string, (records) => {
    if (records.some((r) => r.id === record.id)) throw new Error("token id collision; run the command again");
    records.push(record);
  });
  ctx.stdout.write(`${made.token}\n`);
  ctx.stderr.write(
    `created join token ${record.id} for ${record.spiffeId.toString()}: ${record.usesLeft} use${record.usesLeft === 1 ? "" : "s"}, ` +
      `expires ${record.expiresAt.toISOString()} (in ${formatDuration(ttlMs as number)}).\n` +
      "The token above is shown only this once; the store keeps its hash.\n",
  );
  return 0;
}

async function tokenList(argv: string[], ctx: CommandContext): Promise<number> {
  const command = "mesh-ca token list";
  const flags = parseFlags(command, argv, TOKEN_LIST_FLAGS);
  if (flags.help) {
    ctx.stdout.write(formatHelp(command, "List join tokens (never the tokens themselves).", TOKEN_LIST_FLAGS));
    return 0;
  }
  const records = await readTokenStore(flags.store as string);
  const now = new Date(ctx.clock.now());
  const rows = records.map((r) => ({
    id: r.id,
    spiffeId: r.spiffeId.toString(),
    state: tokenState(r, now),
    usesLeft: r.usesLeft,
    expiresAt: r.expiresAt.toISOString(),
    createdAt: r.createdAt.toISOString(),
  }));
  if (flags.json) {
    ctx.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  const header = ["ID", "SPIFFE ID", "STATE", "USES LEFT", "EXPIRES", "CREATED"];
  const table = [header, ...rows.map((r) => [r.id, r.spiffeId, r.state, String(r.usesLeft), r.expiresAt, r.createdAt])];
  const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? "").length)));
  for (const row of table) ctx.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd()}\n`);
  return 0;
}

async function tokenRevoke(argv: string[], ctx: CommandContext): Promise<number> {
  const command = "mesh-ca token revoke";
  const flags = parseFlags(command, argv, TOKEN_REVOKE_FLAGS);
  if (flags.help) {
    ctx.stdout.write(formatHelp(command, "Revoke a join token; the CA refuses it from its next request on.", TOKEN_REVOKE_FLAGS));
    return 0;
  }
  const id = flags.id as string;
  const already = await updateTokenStore(flags.store as string, (records) => {
    const record = records.find((r) => r.id === id);
    if (!record) throw new CaError(CaErrorCode.TOKEN_NOT_FOUND, `no join token with id ${id} in ${flags.store}; "mesh-ca token list" shows the ids`);
    const was = record.revoked;
    record.revoked = true;
    return was;
  });
  ctx.stdout.write(already ? `join token ${id} was already revoked\n` : `revoked join token ${id}\n`);
  return 0;
}

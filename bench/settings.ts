/**
 * `npm run bench` flags and what they set. The defaults keep a full run
 * under five minutes on the two-core machine; --quick is a smoke run.
 */
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../lib/cli/flags.js";
import type { PhaseSettings } from "./phases.js";
import type { TicketMode } from "./targets/tickets.js";

/** The tests --profile can sample. */
export const PROFILE_TESTS = ["handshake", "resumed", "download", "upload"] as const;
export type ProfileTest = (typeof PROFILE_TESTS)[number];

/** Every target the bench knows, in print order. */
export const ALL_TARGETS = ["direct", "haproxy", "sidecar", "sidecar-proxy-v2", "sidecar-node24", "node-plain", "node-plain-legacy"] as const;

/** The sidecar with `proxyProtocol: v2` on its listener; --proxy-protocol runs it beside `sidecar`. */
export const PROXY_V2_TARGET = "sidecar-proxy-v2";

/**
 * What runs without --targets. node-plain (a reference floor, reading the peer
 * with getPeerX509Certificate) and node-plain-legacy (the same with
 * getPeerCertificate) are asked for by name, to keep a run under five minutes.
 */
export const DEFAULT_TARGETS: readonly string[] = ["direct", "haproxy", "sidecar", "sidecar-node24"];

/** Parsed flags. */
export interface BenchSettings {
  readonly rounds: number;
  readonly phases: PhaseSettings;
  readonly targets: readonly string[];
  readonly node24: boolean;
  readonly ca: "auto" | "double" | "mesh-ca";
  readonly tickets: TicketMode;
  readonly caFigures: boolean;
  /** The mesh-hop test (bench/mesh-hop.ts): proxy pairs, outbound to inbound. */
  readonly hop: boolean;
  /** Extra node flags for every sidecar process (experiments, e.g. V8 heap sizing). */
  readonly sidecarFlags: readonly string[];
  readonly profile: boolean;
  /** Which test --profile samples. */
  readonly profileTest: ProfileTest;
  readonly quick: boolean;
}

const FLAGS = {
  quick: { type: "boolean", description: "one short round (smoke run, ~1 minute)" },
  rounds: { type: "string", placeholder: "N", description: "interleaved rounds (default 3, --quick 1)" },
  duration: { type: "string", placeholder: "MS", description: "measuring window of each test (default 2000, --quick 1000)" },
  targets: { type: "string", placeholder: "LIST", description: `comma-separated, from ${ALL_TARGETS.join(",")} (default ${DEFAULT_TARGETS.join(",")})` },
  "idle-connections": { type: "string", placeholder: "N", description: "idle mTLS connections for the RSS test (default 2000, --quick 500)" },
  "no-node24": { type: "boolean", description: "do not fetch or run Node 24" },
  ca: { type: "string", placeholder: "auto|double|mesh-ca", description: "the CA the sidecar uses (default auto: mesh-ca when built)" },
  tickets: { type: "string", placeholder: "one|off|stateful", description: "TLS 1.3 session tickets of every proxy (default one, as shipped; see bench/targets/tickets.ts)" },
  "no-ca": { type: "boolean", description: "skip the CA issuance figures" },
  "sidecar-flags": { type: "string", placeholder: "FLAGS", description: "extra node flags for every sidecar, space-separated (experiments)" },
  "no-hop": { type: "boolean", description: "skip the mesh-hop test (outbound proxy to inbound proxy pairs)" },
  "proxy-protocol": { type: "boolean", description: `also run ${PROXY_V2_TARGET} (proxyProtocol: v2) beside sidecar: the PROXY header's cost per new connection` },
  profile: { type: "boolean", description: "profile the proxies during one test instead of the full run" },
  "profile-test": { type: "string", placeholder: "TEST", description: "the test --profile samples: handshake, resumed, download or upload (default handshake)" },
} satisfies FlagSpecs;

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`bench: --${name} needs a positive integer, got "${text}"`);
  return n;
}

function oneOf<T extends string>(name: string, text: string | undefined, allowed: readonly T[], fallback: T): T {
  if (text === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(text)) throw new UsageError(`bench: --${name} must be one of ${allowed.join(", ")}, got "${text}"`);
  return text as T;
}

/** Parses argv; returns undefined after printing help. */
export function parseBenchArgs(argv: string[]): BenchSettings | undefined {
  const f = parseFlags("npm run bench --", argv, FLAGS);
  if (f.help) {
    process.stdout.write(formatHelp("npm run bench --", "mTLS proxy benchmark: direct vs haproxy vs mesh-sidecar, ratios to haproxy.", FLAGS));
    return undefined;
  }
  const quick = f.quick;
  const asked = f.targets === undefined ? DEFAULT_TARGETS : f.targets.split(",").map((t) => t.trim());
  // The header's cost is the difference to the same sidecar without it, in the same run.
  const targets = f["proxy-protocol"] ? [...asked, "sidecar", PROXY_V2_TARGET] : asked;
  const unknown = targets.filter((t) => !(ALL_TARGETS as readonly string[]).includes(t));
  if (unknown.length > 0) throw new UsageError(`bench: unknown target(s) ${unknown.join(", ")}; known: ${ALL_TARGETS.join(", ")}`);
  const duration = positiveInt("duration", f.duration, quick ? 1000 : 2000);
  const idle = positiveInt("idle-connections", f["idle-connections"], quick ? 500 : 2000);
  return {
    quick,
    rounds: positiveInt("rounds", f.rounds, quick ? 1 : 3),
    targets: ALL_TARGETS.filter((t) => targets.includes(t) || t === "direct" || t === "haproxy"),
    node24: !f["no-node24"],
    ca: oneOf("ca", f.ca, ["auto", "double", "mesh-ca"], "auto"),
    tickets: oneOf("tickets", f.tickets, ["one", "off", "stateful"], "one"),
    caFigures: !f["no-ca"],
    hop: !f["no-hop"],
    sidecarFlags: (f["sidecar-flags"] ?? "").split(/\s+/).filter((x) => x !== ""),
    profile: f.profile,
    profileTest: oneOf("profile-test", f["profile-test"], PROFILE_TESTS, "handshake"),
    phases: {
      warmupMs: quick ? 300 : 500,
      durationMs: duration,
      handshakeConcurrency: 32,
      bulkConnections: 4,
      latencyConnections: 8,
      latencyRate: 2000,
      latencyMessageBytes: 16,
      idleConnections: idle,
      idleConcurrency: 50,
      idleSettleMs: 1000,
    },
  };
}

/**
 * What `npm start` tells the user once the mesh is ready: the outcome of the
 * demo calls (and the caller the orders app read from its PROXY v2 header),
 * the commands to repeat them, the /metrics URLs and the counters those
 * calls moved. A text block on a terminal; one JSON log
 * record (same facts, machine-readable) when the output is piped.
 */
import { relative, isAbsolute } from "node:path";
import type { CallOutcome } from "./demo-calls.js";

/** One demo call with how to repeat it. */
export interface DemoCall {
  /** e.g. "frontend → orders". */
  title: string;
  expected: CallOutcome["result"];
  outcome: CallOutcome;
  /** The command to repeat it by hand. */
  command: string;
}

/** Everything the summary shows. */
export interface Summary {
  stateDir: string;
  meshJson: string;
  /** Policy file of each service: who may call it. */
  policyFiles: Record<string, string>;
  calls: DemoCall[];
  curlNote: string;
  opensslCommand: string;
  metrics: Record<string, string>;
  /** Non-zero handshake and authorization counters, as /metrics lines. */
  counters: string[];
}

/** True when every call ended as expected. */
export function allAsExpected(summary: Summary): boolean {
  return summary.calls.every((c) => c.outcome.result === c.expected);
}

/** A path relative to the working directory when it lies below it (shorter commands to copy). */
export function displayPath(path: string, cwd = process.cwd()): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

const GREEN = "\u001b[32m";
const RED = "\u001b[31m";
const BOLD = "\u001b[1m";
const DIM = "\u001b[2m";
const RESET = "\u001b[0m";

/** The text block for a terminal. */
export function formatSummary(s: Summary): string {
  const rule = `${DIM}${"─".repeat(78)}${RESET}`;
  const lines = [rule, `${BOLD}The local mesh is ready.${RESET}  State: ${s.stateDir}/   Addresses: ${s.meshJson}`, ""];
  for (const call of s.calls) {
    const ok = call.outcome.result === call.expected;
    const mark = ok ? `${GREEN}✔${RESET}` : `${RED}✘ UNEXPECTED${RESET}`;
    const verb = call.outcome.result === "allowed" ? "allowed" : call.outcome.result === "refused" ? "refused" : "failed ";
    lines.push(`${mark} ${BOLD}${verb}${RESET}  ${call.title}: ${call.outcome.detail}${firstBodyLine(call.outcome)}`);
    lines.push(`     ${call.command}`);
  }
  lines.push(
    "",
    wrap(`${DIM}${s.curlNote}${RESET}`),
    `     ${s.opensslCommand}`,
    "",
    `${BOLD}Metrics${RESET} (refresh after each call and watch the counters move):`,
    ...Object.entries(s.metrics).map(([who, url]) => `  ${who.padEnd(18)} ${url}`),
  );
  if (s.counters.length > 0) lines.push("", `${BOLD}Counters now:${RESET}`, ...s.counters.map((c) => `  ${c}`));
  lines.push(
    "",
    `${BOLD}Policy${RESET} (edit while the mesh runs; each sidecar reloads its own file):`,
    ...Object.entries(s.policyFiles).map(([service, file]) => `  who may call ${service.padEnd(9)} ${file}`),
    "",
    "Ctrl-C stops every process.",
    rule,
  );
  return `${lines.join("\n")}\n`;
}

/** The same facts as one JSON-friendly object, for the piped (JSON) log. */
export function summaryRecord(s: Summary): Record<string, unknown> {
  return {
    event: "ready",
    stateDir: s.stateDir,
    meshJson: s.meshJson,
    policyFiles: s.policyFiles,
    calls: s.calls.map((c) => ({
      title: c.title,
      expected: c.expected,
      result: c.outcome.result,
      detail: c.outcome.detail,
      status: c.outcome.status,
      ...(callerSeen(c.outcome) === undefined ? {} : { caller: callerSeen(c.outcome) }),
      command: c.command,
    })),
    curlNote: s.curlNote,
    opensslCommand: s.opensslCommand,
    metrics: s.metrics,
    counters: s.counters,
  };
}

/** A sample app's answer, as far as the summary reads it. */
interface AppAnswer {
  service?: string;
  caller?: { spiffeId?: string };
  upstream?: { body?: AppAnswer };
}

function parseAnswer(outcome: CallOutcome): AppAnswer | undefined {
  if (outcome.body === undefined) return undefined;
  try {
    return JSON.parse(outcome.body) as AppAnswer;
  } catch {
    return undefined;
  }
}

/**
 * The SPIFFE ID the orders app read from its PROXY v2 header: in its own
 * answer, or in the answer it gave the frontend app. Undefined when no app
 * on the path says.
 */
export function callerSeen(outcome: CallOutcome): string | undefined {
  const answer = parseAnswer(outcome);
  return answer?.caller?.spiffeId ?? answer?.upstream?.body?.caller?.spiffeId;
}

function firstBodyLine(outcome: CallOutcome): string {
  const parsed = parseAnswer(outcome);
  if (!parsed?.service) return "";
  const upstream = parsed.upstream?.body;
  const saw = (a: AppAnswer | undefined): string => (a?.caller?.spiffeId ? `, which saw the caller ${a.caller.spiffeId}` : "");
  const via = upstream?.service ? `, which answered from ${upstream.service}${saw(upstream)}` : "";
  return ` from ${parsed.service}${saw(parsed)}${via}`;
}

function wrap(text: string, width = 78): string {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + word.length + 1 > width) {
      out.push(line);
      line = "";
    }
    line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out.join("\n");
}

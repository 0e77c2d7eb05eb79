/**
 * pino loggers for both programs: JSON when piped (for collectors), pretty
 * when a person is watching a terminal. Secrets never reach a line: known
 * secret-bearing keys are redacted at any depth we log, and code logs
 * `secretHash(token)` instead of a token.
 */
import { createHash } from "node:crypto";
import { pino, type Logger, type LoggerOptions } from "pino";
import pretty from "pino-pretty";

export type { Logger };

/** Keys whose values are secrets wherever they appear in a log object. */
const SECRET_KEYS = ["token", "joinToken", "key", "privateKey", "keyPem", "csr", "authorization", "password", "secret"];
const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  'req.headers["authorization"]',
  "headers.authorization",
];

export interface LogOptions {
  /** Program name, e.g. "mesh-ca". */
  name: string;
  level?: string;
  /** Force JSON or pretty output; default: pretty only on a TTY. */
  format?: "json" | "pretty";
  /** Output stream; defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

/** Creates the program's root logger. */
export function createLogger({ name, level = process.env.LOG_LEVEL ?? "info", format, destination }: LogOptions): Logger {
  const options: LoggerOptions = {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const out = destination ?? process.stdout;
  const wantPretty = format === "pretty" || (format === undefined && (out as { isTTY?: boolean }).isTTY === true);
  if (wantPretty) {
    return pino(options, pretty({ destination: out, colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname" }));
  }
  return pino(options, out === process.stdout ? pino.destination({ dest: 1, sync: false }) : out);
}

/** A short, non-reversible fingerprint of a secret for log lines and cache keys (first 12 hex of SHA-256). */
export function secretHash(secret: string): string {
  return createHash("sha256").update(secret).digest("hex").slice(0, 12);
}

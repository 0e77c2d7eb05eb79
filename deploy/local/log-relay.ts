/**
 * One output stream for every process of the local mesh. Each child logs
 * pino JSON (its stdout is a pipe); the relay tags each line with the
 * process's name and writes it either as JSON (when our own stdout is piped:
 * a `proc` field is added, nothing else changes) or, on a terminal, as
 * pino-pretty text behind a coloured `name |` column.
 */
import pretty from "pino-pretty";

/** Output format of the relay. */
export type LogFormat = "pretty" | "json";

/** Tags and writes child output lines. */
export interface LogRelay {
  readonly format: LogFormat;
  /** One line of a child's stdout or stderr. */
  line(proc: string, stream: "stdout" | "stderr", text: string): void;
}

const COLOURS = [36, 35, 33, 32, 34, 96, 95]; // cyan, magenta, yellow, green, blue, bright cyan, bright magenta
const NAME_WIDTH = 16;
const PINO_ERROR = 50;
const PINO_INFO = 30;

/** Creates a relay writing to `out` (default stdout). */
export function createLogRelay(format: LogFormat, out: NodeJS.WritableStream = process.stdout): LogRelay {
  const prettify = pretty.prettyFactory({ colorize: format === "pretty", translateTime: "HH:MM:ss.l", ignore: "pid,hostname,name", singleLine: true });
  const colourOf = new Map<string, number>();
  const tag = (proc: string): string => {
    let colour = colourOf.get(proc);
    if (colour === undefined) {
      colour = COLOURS[colourOf.size % COLOURS.length] as number;
      colourOf.set(proc, colour);
    }
    return `\u001b[${colour}m${proc.padEnd(NAME_WIDTH)}|\u001b[0m `;
  };
  return {
    format,
    line(proc, stream, text) {
      if (text.trim() === "") return;
      const parsed = parseJsonObject(text);
      if (format === "json") {
        const record = parsed ?? { level: stream === "stderr" ? PINO_ERROR : PINO_INFO, time: new Date().toISOString(), msg: text };
        out.write(`${JSON.stringify({ proc, ...record })}\n`);
        return;
      }
      const body = parsed ? prettify(parsed).trimEnd() : text;
      for (const l of body.split("\n")) out.write(`${tag(proc)}${l}\n`);
    },
  };
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A writable stream that feeds our own (pino JSON) log lines through the relay as process `proc`. */
export function relayStream(relay: LogRelay, proc: string): NodeJS.WritableStream {
  let partial = "";
  const stream = {
    write(chunk: string | Uint8Array): boolean {
      const parts = (partial + (typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"))).split("\n");
      partial = parts.pop() ?? "";
      for (const p of parts) relay.line(proc, "stdout", p);
      return true;
    },
  };
  return stream as unknown as NodeJS.WritableStream;
}

import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogRelay } from "./log-relay.js";

function sink(): { stream: Writable; text: () => string } {
  let out = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  return { stream, text: () => out };
}

describe("log relay", () => {
  it("adds the process name to a child's JSON line and changes nothing else", () => {
    const out = sink();
    createLogRelay("json", out.stream).line("orders-sidecar", "stdout", '{"level":30,"msg":"ready","pid":7}');
    expect(JSON.parse(out.text())).toEqual({ proc: "orders-sidecar", level: 30, msg: "ready", pid: 7 });
  });

  it("wraps a line that is not JSON (a crash trace) into a JSON record, at error level from stderr", () => {
    const out = sink();
    createLogRelay("json", out.stream).line("mesh-ca", "stderr", "TypeError: boom");
    expect(JSON.parse(out.text())).toMatchObject({ proc: "mesh-ca", level: 50, msg: "TypeError: boom" });
  });

  it("prints pretty lines behind the process name on a terminal", () => {
    const out = sink();
    const relay = createLogRelay("pretty", out.stream);
    relay.line("frontend", "stdout", '{"level":30,"time":"2026-01-01T00:00:00.000Z","msg":"frontend is listening"}');
    relay.line("frontend", "stderr", "plain text");
    const lines = out.text().trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/frontend\s+\|/);
    expect(lines[0]).toContain("frontend is listening");
    expect(lines[1]).toContain("plain text");
  });
});

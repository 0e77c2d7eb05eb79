import { describe, expect, it } from "vitest";
import { formatHelp, parseFlags, UsageError } from "./flags.js";

const specs = {
  "trust-domain": { type: "string", description: "trust domain", required: true },
  dir: { type: "string", description: "output directory", required: true },
  force: { type: "boolean", description: "overwrite" },
} as const;

describe("parseFlags", () => {
  it("parses known flags", () => {
    const flags = parseFlags("mesh-ca init", ["--trust-domain", "example.org", "--dir=/tmp/x", "--force"], specs);
    expect(flags).toEqual({ help: false, "trust-domain": "example.org", dir: "/tmp/x", force: true });
  });

  it("reports every bad flag at once and points at --help", () => {
    let err: unknown;
    try {
      parseFlags("mesh-ca init", ["--trust-domian", "x", "--force=yes", "extra"], specs);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message.split("\n")).toEqual([
      "mesh-ca init: unknown flag --trust-domian",
      "mesh-ca init: flag --force takes no value",
      'mesh-ca init: unexpected argument "x"',
      'mesh-ca init: unexpected argument "extra"',
      "mesh-ca init: flag --trust-domain is required",
      "mesh-ca init: flag --dir is required",
      'run "mesh-ca init --help" for usage',
    ]);
  });

  it("does not demand required flags when help is asked for", () => {
    expect(parseFlags("mesh-ca init", ["--help"], specs).help).toBe(true);
  });

  it("renders every flag in help", () => {
    const help = formatHelp("mesh-ca init", "Create a CA.", specs);
    expect(help).toContain("--trust-domain VALUE");
    expect(help).toContain("(required)");
    expect(help).toContain("--force");
  });

  const withVersion = {
    config: { type: "string", description: "config file", required: true },
    version: { type: "boolean", description: "print the version", short: "V", answersAlone: true },
  } as const;

  it("takes a short alias, and a flag that answers alone does not demand the required ones", () => {
    expect(parseFlags("mesh-sidecar", ["-V"], withVersion)).toEqual({ help: false, config: undefined, version: true });
    expect(parseFlags("mesh-sidecar", ["--version"], withVersion).version).toBe(true);
    expect(() => parseFlags("mesh-sidecar", [], withVersion)).toThrow("flag --config is required");
    expect(() => parseFlags("mesh-sidecar", ["-X"], withVersion)).toThrow("unknown flag -X");
  });

  it("shows the short alias in help", () => {
    expect(formatHelp("mesh-sidecar", "Runs.", withVersion)).toMatch(/^ {2}--version, -V +print the version$/m);
  });
});

/**
 * testssl (Debian's testssl.sh) run against one endpoint, its JSON findings
 * read back. Only the sections a test asserts are run: each takes seconds
 * to minutes on a shared machine.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { run } from "../../helpers/processes.js";
import { requireTool } from "./tools.js";

/** One entry of testssl's --jsonfile output. */
export interface Finding {
  id: string;
  severity: string;
  finding: string;
}

/**
 * Runs testssl with `sections` (e.g. `-p` protocols, `-f` forward secrecy:
 * the groups, `-E` every suite per protocol, `-U` vulnerabilities) against
 * `hostPort`, writing its JSON into `workDir`.
 */
export async function runTestssl(hostPort: string, sections: readonly string[], workDir: string, name = "testssl"): Promise<Finding[]> {
  const testssl = requireTool("testssl", "testssl.sh");
  const jsonFile = join(workDir, `${name}.json`);
  const r = await run(
    { command: testssl, args: ["--quiet", "--color", "0", "--warnings", "off", "--ip", "one", "--nodns", "min", ...sections, "--jsonfile", jsonFile, hostPort] },
    240_000,
  );
  expect(r.code, r.output).not.toBe(null);
  const findings = JSON.parse(readFileSync(jsonFile, "utf8")) as Finding[];
  expect(findings.length, r.output).toBeGreaterThan(5);
  return findings;
}

/**
 * The key-exchange groups testssl saw offered: `PFS_ECDHE_curves` (elliptic
 * curves, OpenSSL's names) and `DH_groups` (finite-field groups, RFC 7919
 * names), as lists.
 */
export function groupsFound(findings: readonly Finding[]): { ellipticCurves: string[]; finiteField: string[] } {
  const list = (id: string): string[] => (findings.find((f) => f.id === id)?.finding ?? "").split(/\s+/).filter((w) => w !== "");
  return { ellipticCurves: list("PFS_ECDHE_curves").sort(), finiteField: list("DH_groups") };
}

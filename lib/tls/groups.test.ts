import { createSecureContext } from "node:tls";
import { describe, expect, it } from "vitest";
import { ConfigSource } from "../config/reader.js";
import { DEFAULT_GROUPS, ecdhCurveOf, FINITE_FIELD_GROUPS, KNOWN_GROUPS, opensslSupportsGroup, readTlsGroups, supportedGroups } from "./groups.js";
import { configErrorLines } from "../../test/helpers/error-code.js";

/** Reads `tls.groups` from YAML with a chosen answer to "does OpenSSL have this group?". */
function read(text: string, supports?: (group: string) => boolean): readonly string[] {
  return ConfigSource.fromYaml(text, "x.yaml").read((root) => root.object("tls", (f) => readTlsGroups(f, "groups", supports), () => DEFAULT_GROUPS));
}


const everything = (): boolean => true;
const noHybrid = (group: string): boolean => group !== "X25519MLKEM768";

describe("tls.groups", () => {
  it("defaults to X25519 and P-256, which make a working ecdhCurve", () => {
    expect(DEFAULT_GROUPS).toEqual(["X25519", "P-256"]);
    expect(read("tls: {}\n")).toEqual(DEFAULT_GROUPS);
    expect(read("tls:\n  groups: null\n")).toEqual(DEFAULT_GROUPS);
    expect(() => createSecureContext({ ecdhCurve: ecdhCurveOf(DEFAULT_GROUPS) })).not.toThrow();
  });

  it("takes the elliptic curves in the order given", () => {
    expect(read("tls:\n  groups: [P-384, X25519, P-256]\n")).toEqual(["P-384", "X25519", "P-256"]);
    expect(ecdhCurveOf(["P-384", "X25519"])).toBe("P-384:X25519");
  });

  it("refuses every finite-field group with line:col, the reason and the allowed names", () => {
    const text = `tls:\n  groups:\n${FINITE_FIELD_GROUPS.map((g) => `    - ${g}`).join("\n")}\n`;
    const lines = configErrorLines(() => read(text, everything));
    expect(lines).toHaveLength(FINITE_FIELD_GROUPS.length);
    FINITE_FIELD_GROUPS.forEach((g, i) => {
      expect(lines[i]).toBe(
        `x.yaml:${3 + i}:7: tls.groups[${i}]: ${g} is a finite-field group: refused, because one ClientHello naming it makes the server spend 100 ms or more of CPU (D(HE)at, CVE-2002-20001); use X25519, P-256, P-384 or X25519MLKEM768 (Node 24 / OpenSSL 3.5 or newer)`,
      );
    });
    expect(configErrorLines(() => read("tls:\n  groups: [X25519, FFDHE2048]\n", everything))[0]).toMatch(/^x\.yaml:2:20: tls\.groups\[1\]: FFDHE2048 is a finite-field group/);
  });

  it("refuses unknown names, with a hint for OpenSSL's other spellings", () => {
    expect(configErrorLines(() => read("tls:\n  groups: [X25519, brainpoolP256r1]\n"))).toEqual([
      'x.yaml:2:20: tls.groups[1]: unknown key-exchange group "brainpoolP256r1"; expected X25519, P-256, P-384 or X25519MLKEM768 (Node 24 / OpenSSL 3.5 or newer)',
    ]);
    expect(configErrorLines(() => read("tls:\n  groups: [prime256v1]\n"))[0]).toContain('unknown key-exchange group "prime256v1" (did you mean P-256?)');
    expect(configErrorLines(() => read("tls:\n  groups: [x25519]\n"))[0]).toContain("(did you mean X25519?)");
    expect(configErrorLines(() => read("tls:\n  groups: [25519]\n"))[0]).toContain("expected a key-exchange group name");
  });

  it("refuses an empty list, a repeated group and a scalar", () => {
    expect(configErrorLines(() => read("tls:\n  groups: []\n"))).toEqual(["x.yaml:2:11: tls.groups: must name at least one group, e.g. [X25519, P-256]"]);
    expect(configErrorLines(() => read("tls:\n  groups: [P-256, X25519, P-256]\n"))).toEqual(["x.yaml:2:11: tls.groups: P-256 is listed twice"]);
    expect(configErrorLines(() => read("tls:\n  groups: X25519\n"))).toEqual(['x.yaml:2:11: tls.groups: expected a list, got "X25519"']);
  });

  it("takes X25519MLKEM768 where OpenSSL has it, and otherwise says it needs Node 24 / OpenSSL 3.5", () => {
    expect(read("tls:\n  groups: [X25519MLKEM768, X25519]\n", everything)).toEqual(["X25519MLKEM768", "X25519"]);
    expect(configErrorLines(() => read("tls:\n  groups: [X25519MLKEM768, X25519]\n", noHybrid))).toEqual([
      `x.yaml:2:12: tls.groups[0]: X25519MLKEM768 needs Node 24 / OpenSSL 3.5 or newer; this is Node ${process.versions.node} with OpenSSL ${process.versions.openssl}: remove it, or keep to X25519, P-256, P-384`,
    ]);
  });

  it("asks the running OpenSSL by default, and agrees with createSecureContext on every known group", () => {
    for (const group of KNOWN_GROUPS) {
      let works = true;
      try {
        createSecureContext({ ecdhCurve: group });
      } catch {
        works = false;
      }
      expect(opensslSupportsGroup(group), group).toBe(works);
      if (works) expect(read(`tls:\n  groups: [${group}]\n`)).toEqual([group]);
      else expect(configErrorLines(() => read(`tls:\n  groups: [${group}]\n`))[0]).toContain("needs Node 24 / OpenSSL 3.5 or newer");
    }
    expect(supportedGroups()).toEqual(expect.arrayContaining(["X25519", "P-256", "P-384"]));
    expect(opensslSupportsGroup("no-such-group")).toBe(false);
  });
});

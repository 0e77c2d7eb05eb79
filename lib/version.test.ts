import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPackageVersion, versionInfo, versionLine } from "./version.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "version-"));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe("version", () => {
  it("is this project's package.json version, with Node's and OpenSSL's", async () => {
    const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    expect(versionInfo()).toEqual({ version: pkg.version, node: process.versions.node, openssl: process.versions.openssl });
    expect(versionLine("mesh-sidecar")).toBe(`mesh-sidecar ${pkg.version} (Node.js ${process.versions.node}, OpenSSL ${process.versions.openssl})`);
  });

  it("finds the project's package.json above the module, passing by another project's and broken ones", async () => {
    // The image layout: /app/package.json, /app/dist/lib/version.js; here with a stranger's package.json between.
    const app = join(dir, "app");
    await mkdir(join(app, "dist", "lib"), { recursive: true });
    await writeFile(join(app, "package.json"), JSON.stringify({ name: "mtls-mesh", version: "9.8.7" }));
    await writeFile(join(app, "dist", "package.json"), JSON.stringify({ name: "something-else", version: "1.0.0" }));
    await writeFile(join(app, "dist", "lib", "package.json"), "not json");
    expect(readPackageVersion(join(app, "dist", "lib"))).toBe("9.8.7");
  });

  it("says what is missing when no package.json of the project is found", async () => {
    const lonely = join(dir, "lonely", "dist", "lib");
    await mkdir(lonely, { recursive: true });
    expect(() => readPackageVersion(lonely)).toThrow(/no package\.json named "mtls-mesh" at or above .*keep package\.json beside dist/);
  });
});

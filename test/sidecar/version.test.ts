/**
 * `mesh-sidecar --version` / `-V` of the built CLI: the project's version
 * from package.json and the Node.js and OpenSSL it runs on, read at run time
 * both from this checkout's dist/ and from the container image's layout
 * (/app/package.json beside /app/dist/, deploy/docker/Dockerfile).
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

let version: string;
let dir: string;
const runtime = `(Node.js ${process.versions.node}, OpenSSL ${process.versions.openssl})`;

beforeAll(async () => {
  version = (JSON.parse(await readFile("package.json", "utf8")) as { version: string }).version;
  dir = await mkdtemp(join(tmpdir(), "sidecar-version-"));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe("mesh-sidecar --version", () => {
  it("prints the program, its version and the runtime's on one line, with --version and -V, and exits 0", async () => {
    for (const flag of ["--version", "-V"]) {
      const res = await runCli([flag]);
      expect(res).toEqual({ code: 0, stdout: `mesh-sidecar ${version} ${runtime}\n`, stderr: "" });
    }
  });

  it("needs no --config, and is listed in --help", async () => {
    const help = await runCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}--version, -V +print the version, and Node's and OpenSSL's, and exit$/m);
    const without = await runCli([]);
    expect(without.code).toBe(2);
    expect(without.stderr).toContain("flag --config is required");
  });

  it("refuses a value given to it", async () => {
    const res = await runCli(["--version=yes"]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("flag --version takes no value");
  });

  it("reads the version in the container image's layout: /app/package.json beside /app/dist", async () => {
    // What the Dockerfile's app stage copies: package.json, dist/lib, dist/sidecar (and node_modules).
    const app = join(dir, "app");
    await mkdir(join(app, "dist"), { recursive: true });
    await writeFile(join(app, "package.json"), JSON.stringify({ name: "mtls-mesh", version: "7.7.7-image", type: "module" }));
    await cp(resolve("dist/lib"), join(app, "dist", "lib"), { recursive: true });
    await cp(resolve("dist/sidecar"), join(app, "dist", "sidecar"), { recursive: true });
    await symlink(resolve("node_modules"), join(app, "node_modules"));
    const res = await runCli(["--version"], { cli: join(app, "dist", "sidecar", "cli.js") });
    expect(res).toEqual({ code: 0, stdout: `mesh-sidecar 7.7.7-image ${runtime}\n`, stderr: "" });
  });
});

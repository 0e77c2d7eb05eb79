/**
 * deploy/docker/Dockerfile: lints clean with dockerfilelint, builds with the
 * very commands CI runs, and yields two runtime images (mesh-ca,
 * mesh-sidecar) on Node 24 that run as a numeric non-root user, start node
 * through an exec-form ENTRYPOINT, and hold no devDependency. No Docker
 * engine runs here, so this is what can be known without building.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { findObject, renderKustomization, REPO } from "./kustomize.js";
import { instructionsOf, isIgnored, parseDockerfile, readCopy, type Stage } from "./dockerfile.js";
import { containerOf, type Deployment } from "./pods.js";

const run = promisify(execFile);
const DOCKERFILE = join(REPO, "deploy/docker/Dockerfile");
const stages = parseDockerfile(readFileSync(DOCKERFILE, "utf8"));
const stage = (name: string): Stage => {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`the Dockerfile has no stage named ${name}`);
  return found;
};
const runs = (s: Stage): string[] => instructionsOf(s, "RUN").map((i) => i.args);

/** Runtime images: the program, its entry file, the ports its manifests use. */
const PROGRAMS = [
  { target: "mesh-ca", source: "ca/cli.ts", entry: "/app/dist/ca/cli.js", ports: ["8443", "9090"], kustomization: "base", deployment: "mesh-ca" },
  {
    target: "mesh-sidecar",
    source: "sidecar/cli.ts",
    entry: "/app/dist/sidecar/cli.js",
    ports: ["15006", "15001", "15020"],
    kustomization: "examples/shop",
    deployment: "orders",
  },
] as const;

it("lints clean with dockerfilelint", async () => {
  let bin: string;
  try {
    bin = join(createRequire(import.meta.url).resolve("dockerfilelint/package.json"), "../bin/dockerfilelint");
  } catch {
    throw new Error("dockerfilelint is not installed: it is a devDependency, so `npm ci` installs it");
  }
  // dockerfilelint lints its argument as Dockerfile *text* when no such file exists; make sure it read the file.
  expect(existsSync(DOCKERFILE)).toBe(true);
  const { stdout } = await run(process.execPath, [bin, "-j", DOCKERFILE]).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? "" }));
  const report = JSON.parse(stdout) as { files: { file: string; issues: unknown[] }[]; totalIssues: number };
  expect(report.files.map((f) => f.file)).toEqual([DOCKERFILE]);
  expect(report.files[0]?.issues).toEqual([]);
  expect(report.totalIssues).toBe(0);
});

describe("the build stage", () => {
  it("runs exactly the commands CI runs: .ci/run's `npm ci`, then `npm run build`", () => {
    const ci = readFileSync(join(REPO, ".ci/run"), "utf8");
    const ciInstall = ci.split("\n").map((l) => l.trim()).find((l) => l.startsWith("npm ci"));
    expect(ciInstall, ".ci/run installs with npm ci").toBeDefined();
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.test?.startsWith("npm run build && "), "npm test starts with npm run build").toBe(true);
    expect(runs(stage("build"))).toEqual([ciInstall, "npm run build"]);
  });

  it("starts from Node 24 and copies in everything tsconfig.build.json compiles", () => {
    expect(stage("build").from).toMatch(/^node:24(\.|-|$)/);
    const tsconfig = JSON.parse(readFileSync(join(REPO, "tsconfig.build.json"), "utf8")) as { include: string[] };
    const copied = instructionsOf(stage("build"), "COPY").flatMap((i) => readCopy(i).sources.map((s) => s.replace(/\/$/, "")));
    for (const dir of tsconfig.include) expect(copied, `COPY ${dir}/`).toContain(dir);
    expect(copied).toEqual(expect.arrayContaining(["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json"]));
  });
});

describe.each(PROGRAMS)("the $target image", (program) => {
  const s = (): Stage => stage(program.target);

  it("runs on Node 24 (OpenSSL 3.5)", () => {
    expect(s().from).toMatch(/^(gcr\.io\/distroless\/nodejs24-debian\d+|node:24[.-])/);
  });

  it("starts node itself with an exec-form ENTRYPOINT, so SIGTERM reaches it", () => {
    const entrypoints = instructionsOf(s(), "ENTRYPOINT");
    expect(entrypoints.length).toBe(1);
    expect(JSON.parse(entrypoints[0]?.args ?? "null")).toEqual(["node", program.entry]);
    expect(instructionsOf(s(), "CMD")).toEqual([]);
    expect(existsSync(join(REPO, program.source)), `${program.source} builds to ${program.entry}`).toBe(true);
  });

  it("puts node on PATH where the base image keeps it elsewhere", () => {
    if (!s().from.startsWith("gcr.io/distroless/")) return;
    expect(instructionsOf(s(), "ENV").map((i) => i.args).join(" ")).toMatch(/PATH=\/nodejs\/bin:\$PATH/);
  });

  it("runs as a numeric non-root user, the one its Kubernetes manifests name", async () => {
    const users = instructionsOf(s(), "USER");
    const user = users.at(-1)?.args ?? "";
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
    const d = findObject<Deployment>(await renderKustomization(program.kustomization), "Deployment", program.deployment);
    expect(String(d.spec.template.spec.securityContext?.runAsUser)).toBe(user.split(":")[0]);
    const container = containerOf(d, program.target);
    expect(container.image.split(":")[0]).toBe(program.target);
  });

  it("holds production dependencies only", () => {
    const copies = instructionsOf(s(), "COPY").map(readCopy);
    expect(copies.map((c) => c.from)).toEqual(["app"]);
    expect(instructionsOf(s(), "RUN")).toEqual([]);
    expect(instructionsOf(s(), "ENV").map((i) => i.args).join(" ")).toMatch(/\bNODE_ENV=production\b/);
    const app = stage("app");
    expect(runs(app)).toEqual(["npm ci --omit=dev --no-audit --no-fund"]);
    for (const copy of instructionsOf(app, "COPY").map(readCopy).filter((c) => c.from !== undefined)) {
      expect(copy.from).toBe("build");
      // Compiled output, plus the sidecar's OpenSSL runtime config (ticket count), which is not TypeScript.
      for (const source of copy.sources) expect(source, "only compiled output comes from the build stage").toMatch(/^\/src\/dist\/|^\/src\/sidecar\/openssl-sidecar\.cnf$/);
    }
  });

  it("exposes the ports its manifests use", () => {
    expect(instructionsOf(s(), "EXPOSE").flatMap((i) => i.args.split(/\s+/))).toEqual(program.ports);
  });
});

describe("the mesh-sidecar image's OpenSSL config", () => {
  it("points OPENSSL_CONF at the ticket-count file the app stage copies from the source tree", () => {
    const env = instructionsOf(stage("mesh-sidecar"), "ENV").map((i) => i.args).join(" ");
    const conf = /\bOPENSSL_CONF=(\S+)/.exec(env)?.[1];
    expect(conf).toBe("/app/openssl-sidecar.cnf");
    const copied = instructionsOf(stage("app"), "COPY").map(readCopy).find((c) => c.sources.includes("/src/sidecar/openssl-sidecar.cnf"));
    expect(copied, "the app stage (WORKDIR /app) copies the file").toBeDefined();
    expect(existsSync(join(REPO, "sidecar/openssl-sidecar.cnf"))).toBe(true);
  });
});

describe(".dockerignore (the build context is the repository root)", () => {
  const ignore = readFileSync(join(REPO, ".dockerignore"), "utf8");

  it.each(["node_modules/yaml/package.json", "dist/ca/cli.js", ".git/config", ".mesh-local/ca/ca.key", "test/e2e/a.test.ts", "lib/spiffe/id.test.ts", "docs/deploy.md", "ca/ca.key", "bench/results/run.json", "deploy/kubernetes/base/ca.yaml", "tokens.json", ".env"])(
    "keeps out %s",
    (path) => expect(isIgnored(ignore, path)).toBe(true),
  );

  it("sends every file the Dockerfile copies from the context", () => {
    const sources = stages.flatMap((st) => instructionsOf(st, "COPY").map(readCopy).filter((c) => c.from === undefined).flatMap((c) => c.sources));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) expect(isIgnored(ignore, source.replace(/\/$/, "")), source).toBe(false);
    for (const path of ["lib/spiffe/id.ts", "ca/config.ts", "sidecar/config.ts", "deploy/local/start.ts", "bench/run.ts"]) {
      expect(isIgnored(ignore, path), path).toBe(false);
    }
  });

  it("is matched the way Docker matches it", () => {
    expect(isIgnored("*\n!src\nsrc/**/*.key", "src/a/b.ts")).toBe(false);
    expect(isIgnored("*\n!src\nsrc/**/*.key", "src/a/b.key")).toBe(true);
    expect(isIgnored("*\n!src\nsrc/**/*.key", "other/a.ts")).toBe(true);
    expect(isIgnored("dist", "dist/x/y.js")).toBe(true);
    expect(isIgnored("dist", "src/dist.ts")).toBe(false);
  });
});

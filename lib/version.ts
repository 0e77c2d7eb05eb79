/**
 * The project's version, for `--version` and the admin `/status` of both
 * programs. Read at run time from the project's package.json, found by
 * walking up from this module: from the source tree (lib/), the build
 * (dist/lib/) and the container image (/app/dist/lib/, beside /app/package.json)
 * alike, so there is one version and nothing to keep in step at build time.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package.json `name` of this project: a package.json with another name (a parent project's) is passed by. */
const PACKAGE_NAME = "mtls-mesh";

/** What a program reports about its build and runtime. */
export interface VersionInfo {
  /** The project's version from package.json, e.g. "0.1.0". */
  readonly version: string;
  /** Node.js without the leading "v", e.g. "20.20.2". */
  readonly node: string;
  /** The OpenSSL Node is linked with, e.g. "3.0.19": it decides the TLS behaviour. */
  readonly openssl: string;
}

let cached: VersionInfo | undefined;

/** The version of the project and of the Node.js and OpenSSL it runs on; throws if no package.json of the project is found. */
export function versionInfo(): VersionInfo {
  cached ??= Object.freeze({ version: readPackageVersion(dirname(fileURLToPath(import.meta.url))), node: process.versions.node, openssl: process.versions.openssl });
  return cached;
}

/** The `--version` line: `mesh-sidecar 0.1.0 (Node.js 20.20.2, OpenSSL 3.0.19)`. */
export function versionLine(program: string): string {
  const { version, node, openssl } = versionInfo();
  return `${program} ${version} (Node.js ${node}, OpenSSL ${openssl})`;
}

/** The version of the nearest package.json named PACKAGE_NAME at or above `dir`. */
export function readPackageVersion(dir: string): string {
  for (let at = dir; ; at = dirname(at)) {
    const version = versionIn(join(at, "package.json"));
    if (version !== undefined) return version;
    if (dirname(at) === at) break;
  }
  throw new Error(`no package.json named "${PACKAGE_NAME}" at or above ${dir}: the program's files were copied without it (keep package.json beside dist/)`);
}

function versionIn(file: string): string | undefined {
  let pkg: { name?: unknown; version?: unknown } | null;
  try {
    pkg = JSON.parse(readFileSync(file, "utf8")) as typeof pkg;
  } catch {
    // Missing, unreadable or not JSON: not ours either way; keep looking further up.
    return undefined;
  }
  return pkg?.name === PACKAGE_NAME && typeof pkg.version === "string" ? pkg.version : undefined;
}

/**
 * The local mesh's PKI in `.mesh-local/`, made only with mesh-ca's own
 * commands (the same ones a user would type): `mesh-ca init` the first time,
 * `mesh-ca issue` for the hand-held client identities, and `mesh-ca token
 * create` for a fresh join token per sidecar on every run.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { runNode } from "./supervisor.js";
import { TRUST_DOMAIN } from "./plan.js";
import type { ClientFiles } from "./demo-calls.js";

/** Where things live under the state directory. */
export class StateLayout {
  constructor(readonly root: string) {}

  get caDir(): string {
    return join(this.root, "ca");
  }

  get clientsDir(): string {
    return join(this.root, "clients");
  }

  get tokenStore(): string {
    return join(this.caDir, "tokens.json");
  }

  get meshJson(): string {
    return join(this.root, "mesh.json");
  }

  /** `.mesh-local/npm-start.pid`: which `npm start` owns this directory right now. */
  get pidFile(): string {
    return join(this.root, "npm-start.pid");
  }

  client(name: string): ClientFiles {
    const prefix = join(this.clientsDir, name);
    return { certFile: `${prefix}.crt`, keyFile: `${prefix}.key`, bundleFile: `${prefix}.bundle.pem` };
  }
}

/** A mesh-ca command failed; the message has its output. */
export class MeshCaCommandError extends Error {
  override readonly name = "MeshCaCommandError";
}

/** Runs mesh-ca commands against the local state. */
export class LocalCa {
  constructor(
    private readonly cli: string,
    private readonly layout: StateLayout,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Runs `mesh-ca init` unless a CA is already there; returns true when it made one. */
  ensureInitialized(): boolean {
    const files = ["ca.key", "ca.crt", "bundle.pem"].map((f) => join(this.layout.caDir, f));
    const present = files.filter((f) => existsSync(f));
    if (present.length === files.length) return false;
    if (present.length > 0) {
      throw new MeshCaCommandError(
        `${this.layout.caDir} holds only part of a CA (${present.join(", ")}); delete that directory to make a new CA on the next run`,
      );
    }
    mkdirSync(this.layout.root, { recursive: true });
    this.run(["init", "--trust-domain", TRUST_DOMAIN, "--dir", this.layout.caDir]);
    return true;
  }

  /** `mesh-ca issue`: a client identity for calls by hand, valid for `ttl`. */
  issueClient(name: string, spiffeId: string, ttl: string): ClientFiles {
    mkdirSync(this.layout.clientsDir, { recursive: true });
    this.run(["issue", "--dir", this.layout.caDir, "--spiffe-id", spiffeId, "--out", join(this.layout.clientsDir, name), "--ttl", ttl]);
    return this.layout.client(name);
  }

  /** `mesh-ca token create`: a join token bound to `spiffeId`; only its printed value leaves this function. */
  createJoinToken(spiffeId: string, ttl: string, uses: number): string {
    const out = this.run(["token", "create", "--store", this.layout.tokenStore, "--spiffe-id", spiffeId, "--ttl", ttl, "--uses", String(uses)]);
    const token = /\bmeshjt_[A-Za-z0-9_-]+/.exec(out)?.[0];
    if (!token) throw new MeshCaCommandError("mesh-ca token create printed no meshjt_ token");
    return token;
  }

  private run(args: string[]): string {
    const r = runNode([this.cli, ...args], this.env);
    if (r.status !== 0) {
      const shown = args.join(" ");
      throw new MeshCaCommandError(`mesh-ca ${shown} failed (exit ${String(r.status)}):\n${(r.stderr || r.stdout).trim()}`);
    }
    return r.stdout;
  }
}

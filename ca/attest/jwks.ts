/**
 * The cluster's service-account signing keys for offline token verification
 * (`attestation.kubernetes.mode: jwks`), from a file (re-read when it
 * changes) or a URL (fetched at start, and again when a token names a `kid`
 * we do not know, at most once per cooldown so a stream of made-up kids
 * cannot turn into a stream of fetches). A new key set is parsed whole
 * before it replaces the old one; on failure the old one stays.
 */
import { readFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { request } from "node:https";
import { createLocalJWKSet, errors, type JSONWebKeySet } from "jose";
import { systemClock, type Clock } from "../../lib/clock.js";
import { AEAD_CIPHERS } from "../../lib/tls/ciphers.js";
import { DEFAULT_GROUPS, ecdhCurveOf, type TlsGroup } from "../../lib/tls/groups.js";
import { CodedError } from "../../lib/errors.js";
import type { Logger } from "../../lib/log.js";
import type { JwsKeyResolver } from "./jws.js";

/** The key set could not be obtained at all (URL unreachable, file unreadable): not the caller's fault. */
export class JwksUnavailableError extends CodedError<"JWKS_UNAVAILABLE"> {
  constructor(message: string) {
    super("JWKS_UNAVAILABLE", message);
  }
}

/** Options of JwksKeySource. */
export interface JwksSourceOptions {
  file?: string;
  url?: URL;
  /** CA certificates (PEM file) for the URL's TLS; default: the system's. */
  caFile?: string;
  refetchCooldownMs: number;
  logger: Logger;
  /** Clock for the refetch cooldown; default systemClock. */
  clock?: Clock;
  fetchTimeoutMs?: number;
  /** Key-exchange groups offered to the URL's server (the CA's `tls.groups`); default DEFAULT_GROUPS. */
  groups?: readonly TlsGroup[];
}

type LocalSet = ReturnType<typeof createLocalJWKSet>;

const MAX_JWKS_BYTES = 1 << 20;

/** A JWKS from a file or URL, as a jose key resolver with refetch-on-unknown-kid. */
export class JwksKeySource {
  private keys: LocalSet | undefined;
  private lastFetchAt = -Infinity;
  private inFlight: Promise<void> | undefined;
  private fileStamp = "";
  private readonly clock: Clock;

  private constructor(private readonly opts: JwksSourceOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /**
   * Loads the key set once. A file must load (throws JwksUnavailableError);
   * an unreachable URL is logged and retried when a token arrives.
   */
  static async create(opts: JwksSourceOptions): Promise<JwksKeySource> {
    if ((opts.file === undefined) === (opts.url === undefined)) throw new Error("JwksKeySource needs exactly one of file and url");
    const source = new JwksKeySource(opts);
    if (opts.file !== undefined) {
      await source.reloadFile(true);
    } else {
      await source.refetch().catch((err: unknown) => {
        opts.logger.warn({ err, url: opts.url?.href }, "could not fetch the Kubernetes JWKS; will retry when a token arrives");
      });
    }
    return source;
  }

  /** How many keys are loaded (0 before the first successful load). */
  get keyCount(): number {
    return this.keys ? this.keys.jwks()?.keys.length ?? 0 : 0;
  }

  /** The jose key resolver. */
  readonly getKey: JwsKeyResolver = async (header, token) => {
    if (this.opts.file !== undefined) await this.reloadFile(false);
    if (!this.keys) await this.refetchIfCooledDown();
    const keys = this.keys;
    if (!keys) throw new JwksUnavailableError("the Kubernetes JWKS is not loaded");
    try {
      return await keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || this.opts.url === undefined) throw err;
      // The API server may have rotated its key: look again, unless we just did.
      if (!(await this.refetchIfCooledDown()) || !this.keys) throw err;
      return this.keys(header, token);
    }
  };

  private async refetchIfCooledDown(): Promise<boolean> {
    if (this.opts.url === undefined) return false;
    if (this.inFlight) {
      await this.inFlight.catch(() => undefined);
      return true;
    }
    if (this.clock.now() - this.lastFetchAt < this.opts.refetchCooldownMs) return false;
    await this.refetch().catch((err: unknown) => {
      this.opts.logger.warn({ err, url: this.opts.url?.href }, "refetching the Kubernetes JWKS failed; keeping the previous keys");
    });
    return true;
  }

  private refetch(): Promise<void> {
    this.inFlight ??= (async () => {
      this.lastFetchAt = this.clock.now();
      try {
        const body = await fetchJson(this.opts.url as URL, { caFile: this.opts.caFile, groups: this.opts.groups ?? DEFAULT_GROUPS }, this.opts.fetchTimeoutMs ?? 5000);
        this.keys = parseKeySet(body, (this.opts.url as URL).href);
        this.opts.logger.info({ url: this.opts.url?.href, keys: this.keyCount }, "loaded the Kubernetes JWKS");
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }

  private async reloadFile(initial: boolean): Promise<void> {
    const file = this.opts.file as string;
    try {
      const s = await stat(file);
      const stamp = `${s.mtimeMs}:${s.size}:${s.ino}`;
      if (stamp === this.fileStamp) return;
      const keys = parseKeySet(JSON.parse(await readFile(file, "utf8")) as unknown, file);
      this.keys = keys;
      this.fileStamp = stamp;
      this.opts.logger.info({ file, keys: this.keyCount }, "loaded the Kubernetes JWKS file");
    } catch (err) {
      if (initial) throw new JwksUnavailableError(`cannot load the JWKS file ${file}: ${(err as Error).message}`);
      if (this.keys) {
        this.opts.logger.error({ err, file }, "the JWKS file changed but cannot be loaded; keeping the previous keys");
        return;
      }
      throw new JwksUnavailableError(`cannot load the JWKS file ${file}`);
    }
  }
}

function parseKeySet(value: unknown, where: string): LocalSet {
  try {
    return createLocalJWKSet(value as JSONWebKeySet);
  } catch (err) {
    throw new JwksUnavailableError(`${where} is not a JSON Web Key Set: ${(err as Error).message}`);
  }
}

function fetchJson(url: URL, tls: { caFile: string | undefined; groups: readonly TlsGroup[] }, timeoutMs: number): Promise<unknown> {
  const ca = tls.caFile === undefined ? undefined : readFileSync(tls.caFile, "utf8");
  // ECDHE and AEAD only, as on every TLS endpoint of ours (lib/tls/).
  const options = { method: "GET", headers: { accept: "application/json" }, timeout: timeoutMs, ciphers: AEAD_CIPHERS, ecdhCurve: ecdhCurveOf(tls.groups), ...(ca ? { ca } : {}) };
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_JWKS_BYTES) res.destroy(new Error(`JWKS larger than ${MAX_JWKS_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on("error", reject);
      res.on("end", () => {
        if (res.statusCode !== 200) {
          reject(new JwksUnavailableError(`${url.href} answered HTTP ${res.statusCode ?? "?"}`));
          return;
        }
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown);
        } catch {
          reject(new JwksUnavailableError(`${url.href} did not answer JSON`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new JwksUnavailableError(`${url.href} did not answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

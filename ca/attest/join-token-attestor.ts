/**
 * Join-token attestation: bearer tokens with the join-token prefix
 * (ca/tokens/join-token.ts), judged against the store. The store file is checked for changes (mtime,
 * size, inode) on every request and re-read when it changed, so `token
 * create` and `token revoke` take effect on the next request; a file that
 * fails to parse is logged and the previous state kept.
 *
 * Use counts: when the store is writable, a use is taken under the store's
 * lock on a fresh read and written back atomically, so it holds across
 * processes sharing the file. When it is not writable (on Kubernetes it is a
 * Secret, mounted read-only, and each replica has its own copy), uses are
 * counted in this process's memory only: with N replicas a token may be used
 * up to N times its count. Expiry and revocation hold everywhere.
 */
import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "../../lib/log.js";
import type { TrustDomain } from "../../lib/spiffe/id.js";
import { ApiError, ApiErrorCode, CaError } from "../errors.js";
import { isJoinTokenFormat, JOIN_TOKEN_PREFIX, joinTokenHash, joinTokenId } from "../tokens/join-token.js";
import { parseTokenStore, readTokenStore, tokenState, updateTokenStore, type JoinTokenRecord } from "../tokens/store.js";
import { acceptBearer, DisabledBearerAttestor, type AcceptedCredential, type Attestation, type Attestor, type BearerTokenKind, type PresentedCredential } from "./attestor.js";

/** Join tokens are the bearer tokens with the join-token prefix; the log names them by their public id. */
export const JOIN_TOKEN_KIND: BearerTokenKind = {
  method: "join_token",
  matches: (token) => token.startsWith(JOIN_TOKEN_PREFIX),
  fingerprint: (token) => ({ joinTokenId: joinTokenId(token) }),
};

/** Where use counts are kept; see the module comment. */
export type UseCounting = "file" | "memory";

/** Options of JoinTokenAttestor.create. */
export interface JoinTokenAttestorOptions {
  storeFile: string;
  trustDomain: TrustDomain;
  logger: Logger;
  /** Skips the writability probe (tests: root can write to a chmod'ed file, so read-only is hard to fake). */
  writable?: boolean;
}

function refused(message: string, reason: string, tokenId: string): ApiError {
  return new ApiError(ApiErrorCode.UNAUTHENTICATED, message, { reason, detail: { joinTokenId: tokenId } });
}

/** Authenticates `Authorization: Bearer meshjt_...` against the store. */
export class JoinTokenAttestor implements Attestor {
  readonly method = JOIN_TOKEN_KIND.method;
  private byHash = new Map<string, JoinTokenRecord>();
  private stamp = "";
  /** Uses taken in this process, by hash (memory counting only). */
  private readonly usedHere = new Map<string, number>();

  private constructor(
    private readonly opts: JoinTokenAttestorOptions,
    readonly useCounting: UseCounting,
  ) {}

  /** Loads the store (throws CaError when it cannot) and decides how uses are counted. */
  static async create(opts: JoinTokenAttestorOptions): Promise<JoinTokenAttestor> {
    const writable =
      opts.writable ??
      (await Promise.all([access(opts.storeFile, constants.W_OK), access(dirname(opts.storeFile), constants.W_OK)]).then(
        () => true,
        () => false,
      ));
    const attestor = new JoinTokenAttestor(opts, writable ? "file" : "memory");
    await attestor.refresh(true);
    if (!writable) {
      opts.logger.warn(
        { storeFile: opts.storeFile },
        "join-token store is read-only: use counts are kept in this process's memory, so with several replicas a token can be used once per replica",
      );
    }
    return attestor;
  }

  get summary(): Readonly<Record<string, string>> {
    return { joinTokens: this.useCounting };
  }

  accept(credential: PresentedCredential): AcceptedCredential | undefined {
    return acceptBearer(JOIN_TOKEN_KIND, credential, (token, now) => this.attest(token, now));
  }

  /** Authenticates a join token; the use is taken by the returned attestation's commit. Throws ApiError. */
  async attest(token: string, now: Date): Promise<Attestation> {
    if (!isJoinTokenFormat(token)) {
      throw new ApiError(ApiErrorCode.UNAUTHENTICATED, "join token is malformed: expected meshjt_ followed by 43 base64url characters", {
        reason: "join_token_malformed",
      });
    }
    await this.refresh(false);
    const hash = joinTokenHash(token);
    const id = joinTokenId(token);
    const record = this.byHash.get(hash);
    if (!record) throw refused("join token is not known to this CA (mistyped, or created in another store)", "join_token_unknown", id);
    this.checkUsable(record, now);
    if (!record.spiffeId.memberOf(this.opts.trustDomain) || record.spiffeId.isRoot) {
      throw new ApiError(ApiErrorCode.FORBIDDEN, `join token is bound to ${record.spiffeId.toString()}, which is not a workload ID of this trust domain`, {
        reason: "join_token_foreign_id",
        detail: { joinTokenId: id },
      });
    }
    return { method: "join_token", id: record.spiffeId, credential: { joinTokenId: id }, commit: () => this.takeUse(hash, id, now) };
  }

  private checkUsable(record: JoinTokenRecord, now: Date): void {
    const used = this.usedHere.get(record.hash) ?? 0;
    const state = tokenState({ ...record, usesLeft: record.usesLeft - used }, now);
    if (state === "revoked") throw refused("join token was revoked", "join_token_revoked", record.id);
    if (state === "expired") throw refused(`join token expired at ${record.expiresAt.toISOString()}`, "join_token_expired", record.id);
    if (state === "used") throw refused("join token has no uses left", "join_token_used", record.id);
  }

  private async takeUse(hash: string, id: string, now: Date): Promise<void> {
    if (this.useCounting === "memory") {
      // Synchronous check-and-increment: no await between them, so concurrent requests cannot both take the last use.
      const record = this.byHash.get(hash);
      if (!record) throw refused("join token was removed from the store", "join_token_unknown", id);
      this.checkUsable(record, now);
      this.usedHere.set(hash, (this.usedHere.get(hash) ?? 0) + 1);
      return;
    }
    await updateTokenStore(this.opts.storeFile, (records) => {
      const record = records.find((r) => r.hash === hash);
      if (!record) throw refused("join token was removed from the store", "join_token_unknown", id);
      this.checkUsable(record, now);
      record.usesLeft -= 1;
    });
  }

  private async refresh(initial: boolean): Promise<void> {
    const file = this.opts.storeFile;
    let current: string;
    try {
      const s = await stat(file);
      current = `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch (err) {
      if (initial) {
        await readTokenStore(file); // throws the store error that says what to do
        throw err;
      }
      this.opts.logger.error({ err, storeFile: file }, "join-token store disappeared; keeping the tokens loaded before");
      return;
    }
    if (current === this.stamp) return;
    try {
      const records = parseTokenStore(await readFile(file, "utf8"), file);
      this.byHash = new Map(records.map((r) => [r.hash, r]));
      this.stamp = current;
      this.opts.logger.info({ storeFile: file, tokens: records.length }, "loaded the join-token store");
    } catch (err) {
      if (initial) throw err;
      if (!(err instanceof CaError)) this.opts.logger.error({ err, storeFile: file }, "cannot read the changed join-token store; keeping the previous tokens");
      else this.opts.logger.error({ problem: err.message }, "the changed join-token store is invalid; keeping the previous tokens");
    }
  }
}

/** The join-token method as the config sets it: the store's attestor, or refusals when `attestation.joinTokens` is left out. */
export async function createJoinTokenAttestor(
  config: { storeFile: string } | undefined,
  deps: { trustDomain: TrustDomain; logger: Logger },
): Promise<Attestor> {
  if (!config) {
    return new DisabledBearerAttestor(
      JOIN_TOKEN_KIND,
      { joinTokens: "off" },
      () => new ApiError(ApiErrorCode.UNAUTHENTICATED, "join tokens are not enabled on this CA", { reason: "join_tokens_disabled" }),
    );
  }
  return JoinTokenAttestor.create({ storeFile: config.storeFile, ...deps });
}

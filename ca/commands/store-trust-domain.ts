/**
 * Which trust domain the CA of a join-token store serves, so that
 * `mesh-ca token create` can refuse an ID the CA would refuse when the token
 * is used. In order:
 *
 * 1. `--trust-domain TD`;
 * 2. `--config FILE`: the CA's config (its `trustDomain`);
 * 3. `ca.yaml` beside the store, as `mesh-ca init` writes them, when its
 *    `attestation.joinTokens.storeFile` is this store.
 *
 * Otherwise the command cannot tell, and says how to tell it. The config is
 * read for these two keys only (the rest may need a cluster to be valid,
 * e.g. tokenReview.apiServer), with line:col when they are wrong.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { ConfigError } from "../../lib/config/errors.js";
import { ConfigSource } from "../../lib/config/reader.js";
import { asTrustDomain } from "../../lib/config/values.js";
import { TrustDomain } from "../../lib/spiffe/id.js";

/** The trust domain, and where it was found (for messages): "--trust-domain", or a config file's path. */
export interface StoreTrustDomain {
  readonly trustDomain: TrustDomain;
  readonly source: string;
}

/** What the lookup is given: the flags of `token create` and its environment. */
export interface StoreTrustDomainInput {
  readonly store: string;
  readonly trustDomainFlag?: string | undefined;
  readonly configFlag?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
}

/** The config file name `mesh-ca init` writes beside tokens.json. */
export const INIT_CONFIG_NAME = "ca.yaml";

/**
 * Finds the store's trust domain. Returns a message (what is wrong and what
 * to do) instead when it cannot be found or the sources disagree; throws
 * ConfigError when a config file is unreadable or its keys are invalid.
 */
export async function storeTrustDomain(input: StoreTrustDomainInput): Promise<StoreTrustDomain | { readonly problem: string }> {
  const fromFlag = input.trustDomainFlag === undefined ? undefined : parseTrustDomain(input.trustDomainFlag);
  if (fromFlag !== undefined && "problem" in fromFlag) return fromFlag;
  const configFile = input.configFlag ?? besideStore(input.store);
  const fromConfig = configFile === undefined ? undefined : await readConfigKeys(configFile, input.env);
  if (fromConfig !== undefined && input.configFlag === undefined && fromConfig.storeFile !== resolve(input.store)) {
    // A ca.yaml that serves another store says nothing about this one.
    if (fromFlag) return fromFlag;
    return {
      problem: `cannot tell which trust domain the CA of ${input.store} serves: ${configFile} beside it uses ${fromConfig.storeFile ?? "no join-token store"}, not this store; pass --trust-domain TD or --config FILE (the CA's ca.yaml)`,
    };
  }
  if (fromFlag && fromConfig && fromFlag.trustDomain.name !== fromConfig.trustDomain.name) {
    return { problem: `--trust-domain ${fromFlag.trustDomain.name} disagrees with trustDomain ${fromConfig.trustDomain.name} of ${configFile}; give one of them` };
  }
  if (fromFlag) return fromFlag;
  if (fromConfig) return { trustDomain: fromConfig.trustDomain, source: configFile as string };
  return {
    problem: `cannot tell which trust domain the CA of ${input.store} serves (no ${INIT_CONFIG_NAME} beside it, as mesh-ca init writes): pass --trust-domain TD, or --config FILE with the CA's config`,
  };
}

function parseTrustDomain(text: string): StoreTrustDomain | { problem: string } {
  try {
    return { trustDomain: TrustDomain.parse(text), source: "--trust-domain" };
  } catch (err) {
    return { problem: `--trust-domain: "${text}" is not a trust domain: ${(err as Error).message}` };
  }
}

function besideStore(store: string): string | undefined {
  const file = join(dirname(resolve(store)), INIT_CONFIG_NAME);
  return existsSync(file) ? file : undefined;
}

/** `trustDomain` and the resolved `attestation.joinTokens.storeFile` of a CA config; every other key is left unread. */
async function readConfigKeys(file: string, env: NodeJS.ProcessEnv): Promise<{ trustDomain: TrustDomain; storeFile: string | undefined }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [{ path: "", message: `cannot read the config file: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
  return ConfigSource.fromYaml(text, file, { env }).read((root) => {
    for (const key of Object.keys((root.value as Record<string, unknown> | null) ?? {})) {
      if (key !== "trustDomain" && key !== "attestation") root.maybe(key, (v) => v);
    }
    const storeFile = root.maybe("attestation", (v) => {
      // Without storeFile join tokens are off (docs/configuration.md); relative paths are the config file's.
      const storeFile = (v as { joinTokens?: { storeFile?: unknown } | null } | null)?.joinTokens?.storeFile;
      return typeof storeFile === "string" ? resolve(dirname(resolve(file)), storeFile) : undefined;
    });
    return { trustDomain: root.required("trustDomain", asTrustDomain), storeFile };
  });
}

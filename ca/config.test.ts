import { describe, expect, it } from "vitest";
import { ConfigError } from "../lib/config/errors.js";
import { CA_DEFAULTS, loadCaConfig } from "./config.js";

const MINIMAL = `trustDomain: example.org
attestation:
  joinTokens:
    storeFile: tokens.json
`;

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadCaConfig(text, "/etc/mesh/ca.yaml", env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split("\n");
    throw err;
  }
  throw new Error("config was accepted");
}

describe("loadCaConfig", () => {
  it("fills in every default and resolves paths against the config file's directory", () => {
    const config = loadCaConfig(MINIMAL, "/etc/mesh/ca.yaml", {});
    expect(config.trustDomain.name).toBe("example.org");
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 8443 });
    expect(config.admin).toEqual({ host: "127.0.0.1", port: 9090 });
    expect(config.serverNames).toEqual({ dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
    expect(config.signing).toEqual({ certFile: "/etc/mesh/ca.crt", keyFile: "/etc/mesh/ca.key", bundleFile: "/etc/mesh/bundle.pem" });
    expect(config.svid).toEqual({ defaultTtlMs: 3600_000, maxTtlMs: 24 * 3600_000, backdateMs: 30_000 });
    expect(config.attestation).toEqual({ joinTokens: { storeFile: "/etc/mesh/tokens.json" } });
    expect(config.limits).toEqual({ maxBodyBytes: 65536, requestTimeoutMs: 10_000, headersTimeoutMs: 5_000, ratePerIdentity: 10, rateBurst: 20 });
    expect(config.shutdownGraceMs).toBe(CA_DEFAULTS.shutdownGraceMs);
    expect(config.log.level).toBe("info");
    expect(config.tls).toEqual({ groups: ["X25519", "P-256"] });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.limits)).toBe(true);
  });

  it("takes tls.groups as a list of elliptic-curve groups and refuses finite-field or unknown ones with line:col", () => {
    expect(loadCaConfig(`${MINIMAL}tls:\n  groups: [X25519, P-256, P-384]\n`, "/etc/mesh/ca.yaml", {}).tls.groups).toEqual(["X25519", "P-256", "P-384"]);
    expect(errorsOf(`${MINIMAL}tls:\n  groups: [ffdhe8192, X448]\n`)).toEqual([
      expect.stringMatching(/^\/etc\/mesh\/ca\.yaml:6:12: tls\.groups\[0\]: ffdhe8192 is a finite-field group: refused, .*; use X25519, P-256, P-384 or X25519MLKEM768/),
      expect.stringMatching(/^\/etc\/mesh\/ca\.yaml:6:23: tls\.groups\[1\]: unknown key-exchange group "X448"; expected X25519, P-256, P-384 or X25519MLKEM768/),
    ]);
    expect(errorsOf(`${MINIMAL}tls:\n  minVersion: TLSv1.2\n`)).toEqual([expect.stringMatching(/ca\.yaml:6:3: tls\.minVersion: unknown key \(expected one of: groups\)/)]);
  });

  it("reads the documented Kubernetes block in both modes", () => {
    const tokenReview = loadCaConfig(
      `${MINIMAL}  kubernetes:
    allowedNamespaces: [shop]
    deniedNamespaces: [kube-system]
`,
      "/etc/mesh/ca.yaml",
      { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" },
    );
    expect(tokenReview.attestation.kubernetes).toMatchObject({
      mode: "tokenReview",
      issuer: "https://kubernetes.default.svc.cluster.local",
      audience: "mesh-ca",
      maxTokenLifetimeMs: 24 * 3600_000,
      clockToleranceMs: 30_000,
      allowedNamespaces: ["shop"],
      deniedNamespaces: ["kube-system"],
      tokenReview: {
        tokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
        caFile: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
        cacheTtlMs: 10_000,
      },
    });
    expect(tokenReview.attestation.kubernetes?.tokenReview?.apiServer.href).toBe("https://10.96.0.1/");
    const jwks = loadCaConfig(
      `trustDomain: example.org
attestation:
  kubernetes:
    mode: jwks
    jwks:
      file: jwks.json
`,
      "/etc/mesh/ca.yaml",
      {},
    );
    expect(jwks.attestation.kubernetes?.jwks).toEqual({ file: "/etc/mesh/jwks.json", refetchCooldownMs: 30_000 });
    expect(jwks.attestation.kubernetes?.tokenReview).toBeUndefined();
  });

  it("expands ${VAR} from the environment in the documented apiServer default", () => {
    const config = loadCaConfig(
      `${MINIMAL}  kubernetes:
    tokenReview:
      apiServer: https://\${KUBERNETES_SERVICE_HOST}:\${KUBERNETES_SERVICE_PORT}
`,
      "/etc/mesh/ca.yaml",
      { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "6443" },
    );
    expect(config.attestation.kubernetes?.tokenReview?.apiServer.href).toBe("https://10.96.0.1:6443/");
  });

  it("reports every problem at once, each with its key path and line", () => {
    const lines = errorsOf(`trustDomain: Example.org
listen: 8443
serverNames: [localhost, "not a name"]
svid:
  defaultTtl: 48h
  maxTtl: 1h
attestation:
  kubernetes:
    mode: jwks
    clockTolerance: 5m
    jwks:
      file: a.json
      url: https://x.example/jwks
  joinTokens: {storeFile: 42}
limits:
  maxBodyBytes: 10
  colour: blue
shutdownGrace: soon
`);
    const text = lines.join("\n");
    expect(text).toContain("/etc/mesh/ca.yaml:1:14: trustDomain:");
    expect(text).toContain("listen: expected host:port");
    expect(text).toContain("serverNames[1]: expected a lowercase DNS name or an IP address");
    expect(text).toContain("svid.defaultTtl: must be between");
    expect(text).toContain("attestation.kubernetes.clockTolerance: must be between 0 ms and 60000 ms");
    expect(text).toContain("attestation.kubernetes.jwks: set exactly one of file and url");
    expect(text).toContain("attestation.joinTokens.storeFile: expected a non-empty string");
    expect(text).toContain("limits.maxBodyBytes: expected an integer from 1024");
    expect(text).toContain("limits.colour: unknown key");
    expect(text).toContain("shutdownGrace: expected a duration");
    expect(lines.length).toBeGreaterThanOrEqual(10);
  });

  it("refuses tokenReview mode outside a cluster without apiServer, and a config with no attestation", () => {
    expect(errorsOf(`trustDomain: example.org\nattestation:\n  kubernetes: {mode: tokenReview}\n`).join("\n")).toContain(
      "KUBERNETES_SERVICE_HOST is not set",
    );
    expect(errorsOf(`trustDomain: example.org\n`).join("\n")).toContain("enable at least one of attestation.kubernetes and attestation.joinTokens");
    // "omit to disable": a joinTokens block without storeFile turns join tokens off.
    expect(errorsOf(`trustDomain: example.org\nattestation:\n  joinTokens: {}\n`).join("\n")).toContain("enable at least one of");
  });

  it("refuses jwks mode without a key source and a defaultTtl above maxTtl", () => {
    expect(errorsOf(`${MINIMAL}  kubernetes: {mode: jwks}\n`).join("\n")).toContain("mode jwks needs jwks.file or jwks.url");
    expect(errorsOf(`${MINIMAL}svid: {defaultTtl: 2h, maxTtl: 1h}\n`).join("\n")).toContain("svid: defaultTtl must not be longer than maxTtl");
  });
});

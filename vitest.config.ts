import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Installs (Debian, root) or demands the real tools the tests drive; nothing skips for a missing one.
    globalSetup: ["test/setup/tools.ts"],
    include: ["lib/**/*.test.ts", "ca/**/*.test.ts", "sidecar/**/*.test.ts", "deploy/**/*.test.ts", "test/**/*.test.ts"],
    // Integration tests start real servers and processes; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Two cores: more workers than that only makes TLS-heavy tests time out.
    maxWorkers: 2,
  },
});

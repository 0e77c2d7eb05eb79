/**
 * `mesh-ca serve --config FILE`: runs the CA until SIGTERM or SIGINT. The
 * first signal drains (readiness false, no new connections, requests in
 * flight finish within shutdownGrace) and exits 0; a second one exits at once.
 */
import { formatHelp, parseFlags, type FlagSpecs } from "../../lib/cli/flags.js";
import { createLogger } from "../../lib/log.js";
import { readCaConfigFile } from "../config.js";
import { startCaServer } from "../server/ca-server.js";
import type { CommandContext } from "./context.js";

const COMMAND = "mesh-ca serve";

export const SERVE_FLAGS = {
  config: { type: "string", required: true, placeholder: "FILE", description: "config file, e.g. the ca.yaml written by mesh-ca init" },
} satisfies FlagSpecs;

/** Runs the server; resolves with the exit code once it has stopped. */
export async function runServe(argv: string[], ctx: CommandContext): Promise<number> {
  const flags = parseFlags(COMMAND, argv, SERVE_FLAGS);
  if (flags.help) {
    ctx.stdout.write(formatHelp(COMMAND, "Serve the HTTPS issuance API and the admin port (/metrics, /healthz, /readyz).", SERVE_FLAGS));
    return 0;
  }
  const config = await readCaConfigFile(flags.config as string, ctx.env);
  const logger = createLogger({ name: "mesh-ca", level: config.log.level });
  const server = await startCaServer(config, { logger, clock: ctx.clock });
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal }, "second signal: exiting at once");
        logger.flush();
        process.exit(1);
      }
      logger.info({ signal }, "signal received");
      void server.shutdown().then(() => {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        logger.flush();
        resolve(0);
      });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

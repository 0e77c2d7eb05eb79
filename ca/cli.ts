#!/usr/bin/env node
/** mesh-ca: the workload certificate authority (docs/ca.md). */
import { main } from "./commands/main.js";

const exitCode = await main(process.argv.slice(2));
process.exitCode = exitCode;
// Exit even if a library left a handle open (e.g. a keep-alive socket of the TokenReview client).
setTimeout(() => process.exit(exitCode), 500).unref();

/**
 * Starting and stopping the API's HTTPS server: listen with the error a
 * person can act on, and drain on shutdown (finish requests in flight, then
 * close what is left after the grace period).
 */
import type { Server } from "node:https";
import { formatHostPort, type HostPort } from "../../lib/net/address.js";
import { CaError, CaErrorCode } from "../errors.js";

/** Listens on `address`; throws CaError CA_STARTUP_FAILED naming the address and the config key (`what`). */
export function listen(server: Server, address: HostPort, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((err: unknown) => {
    throw listenFailed(address, what, err);
  });
}

/** CaError CA_STARTUP_FAILED for an address that cannot be listened on. */
export function listenFailed(address: HostPort, what: string, err: unknown): CaError {
  return new CaError(CaErrorCode.STARTUP_FAILED, `cannot listen on ${formatHostPort(address)} (${what}): ${describeListenError(err)}`, { cause: err });
}

function describeListenError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") return "the address is already in use (another mesh-ca running?)";
  if (code === "EADDRNOTAVAIL") return "no interface has this address";
  if (code === "EACCES") return "permission denied (ports below 1024 need privileges)";
  return (err as Error).message;
}

/** Stops accepting, closes idle keep-alive connections as they become idle, and force-closes what is left after graceMs. */
export async function drain(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const idleSweep = setInterval(() => server.closeIdleConnections(), 50);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, graceMs);
  });
  await Promise.race([closed, deadline]);
  clearInterval(idleSweep);
  clearTimeout(timer);
}

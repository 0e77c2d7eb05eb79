/** Binding a net.Server to a configured address, as a promise. */
import type { Server } from "node:net";
import type { HostPort } from "./address.js";

/** Listens on `addr`; resolves with the bound address (the real port when `addr.port` is 0), rejects with the bind error. */
export function listenOn(server: Server, addr: HostPort): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen(addr.port, addr.host, () => {
      server.off("error", onError);
      const bound = server.address();
      resolve({ host: addr.host, port: typeof bound === "object" && bound ? bound.port : addr.port });
    });
  });
}

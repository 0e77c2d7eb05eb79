/**
 * TLS 1.3 session tickets, set alike on every proxy (the issue: "compare like
 * with like and say which setting each side used").
 *
 * - "one" (default): one stateless ticket per full handshake, what the
 *   sidecar ships with (sidecar/openssl-sidecar.cnf, tls.sessionResumption:
 *   true). Neither Node 20 nor haproxy 2.6 has a per-listener ticket count;
 *   OpenSSL's `NumTickets` in a config file named by OPENSSL_CONF sets it for
 *   the whole process, and both read it (Node from the `nodejs_conf` section,
 *   haproxy from `openssl_conf`). Only in this mode does the bench measure
 *   resumed connections.
 * - "off": no tickets at all (`NumTickets = 0`), the cheapest full handshake
 *   for clients that never resume; the sidecar runs with
 *   tls.sessionResumption: false.
 * - "stateful": SSL_OP_NO_TICKET, which under TLS 1.3 still sends two
 *   tickets, stateful ones (a session ID, not an encrypted session): what the
 *   sidecar does with tls.sessionResumption: false and no OPENSSL_CONF;
 *   haproxy gets `no-tls-tickets`, the plain proxy the same option.
 * The probe counts the tickets each proxy actually sends and the run prints them.
 */

/** Which ticket setting every proxy of a run gets. */
export type TicketMode = "one" | "off" | "stateful";

/** An OpenSSL config whose only effect is NumTickets = `count` for every SSL_CTX. */
export function numTicketsOpensslConf(count: number): string {
  return [
    `# Written by npm run bench: TLS 1.3 servers send ${count} session ticket(s) per full handshake.`,
    "openssl_conf = bench_init",
    "nodejs_conf = bench_init",
    "",
    "[bench_init]",
    "ssl_conf = bench_ssl",
    "",
    "[bench_ssl]",
    "system_default = bench_system_default",
    "",
    "[bench_system_default]",
    `NumTickets = ${count}`,
    "",
  ].join("\n");
}

/** The OPENSSL_CONF contents of `mode`, if it uses one. */
export function opensslConfFor(mode: TicketMode): string | undefined {
  if (mode === "one") return numTicketsOpensslConf(1);
  if (mode === "off") return numTicketsOpensslConf(0);
  return undefined;
}

/** Environment of a proxy process under `mode`; `opensslConfFile` holds opensslConfFor(mode). */
export function proxyEnv(mode: TicketMode, opensslConfFile: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENSSL_CONF;
  if (opensslConfFor(mode) !== undefined) env.OPENSSL_CONF = opensslConfFile;
  return env;
}

/** Whether proxies under `mode` can resume sessions (and the bench measures it). */
export function resumes(mode: TicketMode): boolean {
  return mode === "one";
}

/** How the printed report names each side's setting. */
export function describeTickets(mode: TicketMode): Record<string, string> {
  if (mode === "one") {
    return {
      haproxy: "OPENSSL_CONF with NumTickets = 1 (one stateless ticket), TLS tickets on (its default)",
      sidecar: "OPENSSL_CONF with NumTickets = 1 (one stateless ticket), tls.sessionResumption: true (its shipped setting)",
      "node-plain": "OPENSSL_CONF with NumTickets = 1 (one stateless ticket)",
    };
  }
  return mode === "off"
    ? {
        haproxy: "OPENSSL_CONF with NumTickets = 0 (no tickets)",
        sidecar: "OPENSSL_CONF with NumTickets = 0 (no tickets), tls.sessionResumption: false",
        "node-plain": "OPENSSL_CONF with NumTickets = 0 (no tickets)",
      }
    : {
        haproxy: "no-tls-tickets (SSL_OP_NO_TICKET: two stateful TLS 1.3 tickets, session cache on)",
        sidecar: "tls.sessionResumption: false, so SSL_OP_NO_TICKET (two stateful TLS 1.3 tickets)",
        "node-plain": "SSL_OP_NO_TICKET (two stateful TLS 1.3 tickets)",
      };
}

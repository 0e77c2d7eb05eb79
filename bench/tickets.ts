/**
 * TLS 1.3 session tickets, set alike on every proxy (the issue: "compare like
 * with like and say which setting each side used"). Peers of an inbound
 * listener do not resume here, so a ticket is pure cost.
 *
 * - "off" (default): no tickets at all. Neither Node 20 nor haproxy 2.6 has a
 *   per-listener way to send zero TLS 1.3 tickets; OpenSSL's `NumTickets = 0`
 *   in a config file named by OPENSSL_CONF does it for the whole process, and
 *   both read it (Node from the `nodejs_conf` section, haproxy from
 *   `openssl_conf`). sidecar/tls-options.ts documents the same setting.
 * - "stateful": SSL_OP_NO_TICKET, which under TLS 1.3 still sends two
 *   tickets, stateful ones (a session ID, not an encrypted session): what the
 *   sidecar's code does without OPENSSL_CONF; haproxy gets `no-tls-tickets`,
 *   the plain proxy the same option.
 * The probe counts the tickets each proxy actually sends and the run prints them.
 */

/** Which ticket setting every proxy of a run gets. */
export type TicketMode = "off" | "stateful";

/** An OpenSSL config whose only effect is NumTickets = 0 for every SSL_CTX. */
export const NO_TICKETS_OPENSSL_CONF = [
  "# Written by npm run bench: TLS 1.3 servers send no session tickets.",
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
  "NumTickets = 0",
  "",
].join("\n");

/** Environment of a proxy process under `mode`. */
export function proxyEnv(mode: TicketMode, opensslConfFile: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENSSL_CONF;
  if (mode === "off") env.OPENSSL_CONF = opensslConfFile;
  return env;
}

/** How the printed report names each side's setting. */
export function describeTickets(mode: TicketMode): Record<string, string> {
  return mode === "off"
    ? {
        haproxy: "OPENSSL_CONF with NumTickets = 0 (no tickets)",
        sidecar: "OPENSSL_CONF with NumTickets = 0 (no tickets), plus its own SSL_OP_NO_TICKET",
        "node-plain": "OPENSSL_CONF with NumTickets = 0 (no tickets)",
      }
    : {
        haproxy: "no-tls-tickets (SSL_OP_NO_TICKET: two stateful TLS 1.3 tickets, session cache on)",
        sidecar: "its own SSL_OP_NO_TICKET (two stateful TLS 1.3 tickets)",
        "node-plain": "SSL_OP_NO_TICKET (two stateful TLS 1.3 tickets)",
      };
}

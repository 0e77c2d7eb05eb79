/** `host:port` addresses as written in config and flags. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `host:port` or `[v6]:port`; port 0 (pick a free port) is allowed only
 * when `allowZero` is set, for tests and the local mesh.
 */
export function parseHostPort(text: string, { allowZero = false } = {}): HostPort | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const host = (match[1] ?? match[2]) as string;
  const port = Number(match[3]);
  if (port > 65535 || (port === 0 && !allowZero)) return undefined;
  return { host, port };
}

/** Formats an address back to `host:port`, bracketing IPv6 literals. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

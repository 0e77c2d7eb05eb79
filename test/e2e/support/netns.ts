/**
 * Network namespaces joined by veth pairs, so each "pod" and the CA sit on
 * their own host as far as the network goes (`ip netns`, needs root, as in
 * CI). Every namespace and link is created by this module with a name unique
 * to the run, and removed by `destroy` (deleting a namespace deletes the
 * veth ends inside it). Addresses are /30s from 10.253.0.0/16 and exist only
 * inside these namespaces, never on the host.
 */
import { randomBytes } from "node:crypto";
import { run } from "../../helpers/processes.js";

/** Runs `ip ARGS`; throws with its output on failure. */
export async function ip(args: readonly string[]): Promise<string> {
  const r = await run({ command: "ip", args: [...args] }, 15_000);
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")} failed (exit ${String(r.code)}): ${r.output}`);
  return r.stdout;
}

/** Fails with a clear message unless we may create namespaces. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error("this test creates network namespaces with `ip netns` and must run as root (CI does)");
  }
}

/** A set of namespaces and the links between them. */
export class NetnsLab {
  /** Unique per run: namespace and link names carry it. */
  readonly tag = randomBytes(3).toString("hex");
  private readonly namespaces: string[] = [];
  private links = 0;

  /** Creates namespace `mesh-<tag>-<name>` with loopback up; returns its full name. */
  async namespace(name: string): Promise<string> {
    const ns = `mesh-${this.tag}-${name}`;
    await ip(["netns", "add", ns]);
    this.namespaces.push(ns);
    await ip(["-n", ns, "link", "set", "lo", "up"]);
    return ns;
  }

  /**
   * Joins two namespaces with a veth pair on its own /30 (10.253.N.0/30):
   * `a` gets .1 and `b` gets .2. Returns the two addresses.
   */
  async link(a: string, b: string): Promise<{ a: string; b: string }> {
    const n = ++this.links;
    if (n > 250) throw new Error("too many links");
    const [va, vb] = [`mv${this.tag}${n}a`, `mv${this.tag}${n}b`];
    await ip(["link", "add", va, "netns", a, "type", "veth", "peer", "name", vb, "netns", b]);
    const addrs = { a: `10.253.${n}.1`, b: `10.253.${n}.2` };
    await ip(["-n", a, "addr", "add", `${addrs.a}/30`, "dev", va]);
    await ip(["-n", b, "addr", "add", `${addrs.b}/30`, "dev", vb]);
    await ip(["-n", a, "link", "set", va, "up"]);
    await ip(["-n", b, "link", "set", vb, "up"]);
    return addrs;
  }

  /** `ip netns exec NS COMMAND ARGS` as a command line for run()/ProcessGroup. */
  exec(ns: string, command: string, args: readonly string[]): { command: string; args: string[] } {
    return { command: "ip", args: ["netns", "exec", ns, command, ...args] };
  }

  /** Deletes every namespace made here (and with them the veths); never throws. */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    for (const ns of this.namespaces.reverse()) {
      const r = await run({ command: "ip", args: ["netns", "del", ns] }, 15_000);
      if (r.code !== 0) problems.push(`ip netns del ${ns}: ${r.output}`);
    }
    this.namespaces.length = 0;
    return problems;
  }

  /** Names of the namespaces still present. */
  get created(): readonly string[] {
    return this.namespaces;
  }
}

/** haproxy 2.6 (Debian) run in the foreground for a test, with a config the test writes. */
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { type ManagedProcess, type ProcessGroup, run, waitFor } from "../../helpers/processes.js";
import { requireTool } from "./tools.js";

/** Checks the config with `haproxy -c`, starts it, and waits until `port` accepts connections. */
export async function startHaproxy(group: ProcessGroup, configFile: string, config: string, ports: number[]): Promise<ManagedProcess> {
  const haproxy = requireTool("haproxy", "haproxy");
  writeFileSync(configFile, config);
  const check = await run({ command: haproxy, args: ["-c", "-f", configFile] });
  if (check.code !== 0) throw new Error(`haproxy -c rejected the test's config:\n${check.output}\n${config}`);
  const proc = group.start({ name: "haproxy", command: haproxy, args: ["-db", "-f", configFile] });
  for (const port of ports) {
    await waitFor(`haproxy to listen on ${port}`, () => {
      if (proc.exitStatus) throw new Error(`haproxy exited:\n${proc.tail()}`);
      return canConnect(port);
    });
  }
  return proc;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

/** The `global`/`defaults` sections every test config starts with: foreground, logs to stdout, HTTP mode. */
export const HAPROXY_PREAMBLE = `global
  log stdout format raw local0 info
  maxconn 200

defaults
  log global
  mode http
  option httplog
  timeout connect 5s
  timeout client 15s
  timeout server 15s
`;

/**
 * Reads a V8 .cpuprofile (written by `node --cpu-prof`) into self time per
 * function and per area of code. Native work done on the main thread (the
 * TLS handshake inside OpenSSL, socket writes) is charged to the JavaScript
 * frame that called into it, or to "(program)" when no frame is on the stack.
 */

/** The parts of a .cpuprofile we read. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  /** Microseconds on the monotonic clock (process.hrtime's, in µs) of the first sample. */
  readonly startTime: number;
}

/** Only samples taken within [fromUs, toUs] on the monotonic clock count (e.g. the load window, not start-up). */
export interface SampleWindow {
  readonly fromUs: number;
  readonly toUs: number;
}

/** Self time of one function or area. */
export interface SelfTime {
  readonly name: string;
  readonly selfMs: number;
  readonly percent: number;
}

/** What a profile says, sorted by self time. */
export interface ProfileSummary {
  readonly totalMs: number;
  /** Percent excludes "(idle)", so it is a share of busy time. */
  readonly busyMs: number;
  readonly functions: readonly SelfTime[];
  readonly areas: readonly SelfTime[];
}

/** Short location: the path from dist/ or node_modules/ on, or node:xyz. */
export function shortUrl(url: string): string {
  if (url === "") return "";
  const cut = /(?:\/(dist|node_modules)\/)(.*)$/.exec(url);
  if (cut) return cut[1] === "dist" ? (cut[2] ?? url) : `node_modules/${cut[2] ?? ""}`;
  return url.replace(/^file:\/\//, "");
}

/** Which part of the program a frame belongs to. */
export function areaOf(functionName: string, url: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith("node:")) return "node internals";
  const s = shortUrl(url);
  if (s.startsWith("node_modules/")) return s.split("/").slice(0, s.startsWith("node_modules/@") ? 3 : 2).join("/");
  const top = s.split("/")[0] ?? s;
  return `${top}/`;
}

function rank(map: Map<string, number>, busyMs: number, top: number): SelfTime[] {
  return [...map.entries()]
    .map(([name, ms]) => ({ name, selfMs: ms, percent: busyMs > 0 ? (100 * ms) / busyMs : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, top);
}

/** Self time per function (top `top`) and per area, within `window` when given. */
export function summarizeCpuProfile(profile: CpuProfile, top = 25, window?: SampleWindow): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const ms = us / 1000;
    totalMs += ms;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idleMs += ms;
      continue;
    }
    const where = url === "" ? "" : ` ${shortUrl(url)}:${lineNumber + 1}`;
    const name = `${functionName || "(anonymous)"}${where}`;
    functions.set(name, (functions.get(name) ?? 0) + ms);
    const area = areaOf(functionName, url);
    areas.set(area, (areas.get(area) ?? 0) + ms);
  }
  const busyMs = totalMs - idleMs;
  return { totalMs, busyMs, functions: rank(functions, busyMs, top), areas: rank(areas, busyMs, 50) };
}

/**
 * Linux `perf` as a second view of where a proxy's time goes: V8's profile
 * sees JavaScript frames only, while perf also sees OpenSSL, libuv and the
 * kernel, for haproxy and the sidecar alike. Optional: used when `perf` runs.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { spawnPinned, type Child } from "../machine/processes.js";

const run = promisify(execFile);

/** One line of `perf report`: a symbol's (or, with symbol "", a library's) share of samples. */
export interface PerfSymbol {
  readonly percent: number;
  readonly dso: string;
  readonly symbol: string;
}

/**
 * Parses `perf report --stdio --no-children --sort dso,sym -F overhead,dso,sym` output:
 * lines like `    12.34%  libcrypto.so.3  [.] ossl_ec_GFp_nistz256_mul`.
 */
export function parsePerfReport(text: string): PerfSymbol[] {
  const out: PerfSymbol[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$/.exec(line);
    if (m) out.push({ percent: Number(m[1]), dso: m[2] ?? "", symbol: m[3] ?? "" });
  }
  return out;
}

/** Parses `perf report --sort dso -F overhead,dso` output: share per library. */
export function parsePerfDsoReport(text: string): PerfSymbol[] {
  const out: PerfSymbol[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*([\d.]+)%\s+(\S.*?)\s*$/.exec(line);
    if (m) out.push({ percent: Number(m[1]), dso: m[2] ?? "", symbol: "" });
  }
  return out.sort((a, b) => b.percent - a.percent);
}

/** True when `perf` exists and may sample processes here. */
export async function perfUsable(): Promise<boolean> {
  try {
    await run("perf", ["--version"], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** Starts sampling `pid` into `file` until stopped. */
export function perfRecord(pid: number, file: string, core: number | undefined): Child {
  // DWARF call graphs: OpenSSL is built without frame pointers, and inclusive
  // time (everything under SSL_do_handshake, X509_verify_cert, ...) needs stacks.
  const args = ["record", "-F", "499", "--call-graph", "dwarf,16384", "-p", String(pid), "-o", file, "--quiet"];
  return spawnPinned({ name: "perf record", core, command: "perf", args });
}

/** The flat report of a perf.data file: top symbols and share per library. */
export async function perfReport(file: string): Promise<{ symbols: PerfSymbol[]; dsos: PerfSymbol[] }> {
  // --no-inline: resolving inlined frames runs addr2line over node's debug info for minutes.
  const report = (args: string[]): Promise<string> =>
    run("perf", ["report", "--no-inline", "-i", file, "--stdio", "--no-children", ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }).then((r) => r.stdout);
  const symbols = parsePerfReport(await report(["--sort", "dso,sym", "-F", "overhead,dso,sym", "--percent-limit", "0.3"]));
  const dsos = parsePerfDsoReport(await report(["--sort", "dso", "-F", "overhead,dso"]));
  return { symbols: symbols.sort((a, b) => b.percent - a.percent), dsos };
}

/** Functions whose inclusive share tells where a handshake's time goes (OpenSSL 3.0, Node, libuv, kernel). */
export const HANDSHAKE_LANDMARKS: readonly { readonly symbol: string; readonly meaning: string }[] = [
  { symbol: "node::crypto::TLSWrap::ClearOut", meaning: "Node: TLS records in, incl. the server handshake" },
  { symbol: "tls_process_client_certificate", meaning: "OpenSSL: parse + verify the client's certificate" },
  { symbol: "OSSL_DECODER_CTX_new_for_pkey", meaning: "OpenSSL 3.0: set up a public-key decoder (provider lookups)" },
  { symbol: "X509_verify_cert", meaning: "OpenSSL: chain verification" },
  { symbol: "tls_construct_new_session_ticket", meaning: "OpenSSL: building session tickets" },
  { symbol: "ossl_ecdsa_simple_verify_sig", meaning: "ECDSA P-256 verify (math)" },
  { symbol: "ossl_ecdsa_simple_sign_sig", meaning: "ECDSA P-256 sign (math)" },
  { symbol: "x25519_gen", meaning: "X25519 key generation (math)" },
  { symbol: "ossl_x25519", meaning: "X25519 key agreement (math)" },
  { symbol: "node::crypto::X509Certificate::GetPeerCert", meaning: "Node: getPeerX509Certificate()" },
  { symbol: "ASN1_item_dup", meaning: "OpenSSL: copying a certificate (re-encode + re-decode)" },
  { symbol: "v8::internal::Builtin_HandleApiCall", meaning: "JS → C++ calls (all Node bindings)" },
  { symbol: "v8::internal::Heap::CollectGarbage", meaning: "V8 garbage collection (main thread)" },
  { symbol: "v8::internal::OptimizingCompileDispatcher::CompileTask::RunInternal", meaning: "V8 JIT (background thread)" },
  { symbol: "v8::internal::SamplingEventsProcessor::Run", meaning: "the --cpu-prof sampler itself" },
  { symbol: "uv__io_poll", meaning: "libuv event loop (incl. callbacks)" },
  { symbol: "do_syscall_64", meaning: "kernel: system calls (sockets)" },
];

/** One landmark with its inclusive share of the process's samples. */
export interface Landmark {
  readonly symbol: string;
  readonly meaning: string;
  readonly percent: number;
}

/** Parses `perf report --children --sort sym -g none`: inclusive share per symbol. */
export function parsePerfChildren(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^\s*([\d.]+)%\s+([\d.]+)%\s+\[[.k]\]\s+(.+?)\s*$/.exec(line);
    if (m && !out.has(m[3] ?? "")) out.set(m[3] ?? "", Number(m[1]));
  }
  return out;
}

/** Inclusive shares of the landmarks that appear in a perf.data recorded with call graphs. */
export async function perfLandmarks(file: string): Promise<Landmark[]> {
  const { stdout } = await run(
    "perf",
    ["report", "--no-inline", "-i", file, "--stdio", "--children", "--sort", "sym", "-g", "none", "--percent-limit", "0.2"],
    { maxBuffer: 64 * 1024 * 1024, timeout: 300_000 },
  );
  const shares = parsePerfChildren(stdout);
  return HANDSHAKE_LANDMARKS.filter((l) => shares.has(l.symbol)).map((l) => ({ ...l, percent: shares.get(l.symbol) ?? 0 }));
}

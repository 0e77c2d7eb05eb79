/** Small PEM and certificate-file chores for handing SVIDs to other tools. */
import { readFileSync, writeFileSync } from "node:fs";
import type { SvidFiles } from "../../e2e/support/mesh.js";

/** The PEM blocks of `text`, in order. */
export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----\n?/g)?.map((b) => (b.endsWith("\n") ? b : `${b}\n`)) ?? [];
}

/** haproxy wants certificate chain and key in one file. */
export function writeCombinedPem(svid: SvidFiles, path: string): string {
  writeFileSync(path, readFileSync(svid.certFile, "utf8") + readFileSync(svid.keyFile, "utf8"), { mode: 0o600 });
  return path;
}

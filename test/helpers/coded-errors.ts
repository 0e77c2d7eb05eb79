/**
 * The code tables of the CodedError subclasses declared under a folder, read
 * from the source text, so a documentation test also covers a subclass added
 * later without anyone listing it: each `class X extends CodedError<T>`
 * names its code table `T`, an `export const T = { ... } as const` in the
 * same folder or in lib/, or its one code (`CodedError<"CODE">`).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = new URL("../../", import.meta.url).pathname;

function sourceFiles(folder: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, folder), { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

/** Class name → the codes of its table, for every CodedError subclass in `folder` (e.g. "ca"). */
export function codedErrorTables(folder: string): Map<string, string[]> {
  const own = sourceFiles(folder);
  const texts = [...new Set([...own, ...sourceFiles("lib")])].map((file) => readFileSync(file, "utf8"));
  const tables = new Map<string, string[]>();
  for (const text of own.map((file) => readFileSync(file, "utf8"))) {
    for (const [, className, single, tableName] of text.matchAll(/class (\w+) extends CodedError<(?:"([A-Z0-9_]+)"|(\w+))>/g)) {
      if (single !== undefined) {
        tables.set(className as string, [single]);
        continue;
      }
      const body = texts.map((t) => new RegExp(`export const ${tableName} = \\{([^}]*)\\} as const`).exec(t)?.[1]).find((b) => b !== undefined);
      tables.set(className as string, body === undefined ? [] : [...body.matchAll(/:\s*"([A-Z0-9_]+)"/g)].map((m) => m[1] as string));
    }
  }
  return tables;
}

/** The rows of docs/errors.md's tables, by code. */
export function documentedCodes(): Set<string> {
  const docs = readFileSync(join(ROOT, "docs/errors.md"), "utf8");
  return new Set([...docs.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string));
}

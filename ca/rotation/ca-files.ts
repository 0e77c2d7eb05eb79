/**
 * The files of a CA directory by role, as `mesh-ca init` and `mesh-ca
 * rotate` lay them out: the signing pair (ca.crt, ca.key), the trust bundle,
 * optional intermediates (chain.pem), and during a rotation the next or the
 * previous pair and rotation.json. Read once into memory, so a step checks
 * and plans on one consistent picture, and can check the picture it is about
 * to write before writing it.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CaError, CaErrorCode } from "../errors.js";
import { ROTATION_FILE } from "./rotation-record.js";

/** File names by role. */
export const CA_FILES = {
  cert: "ca.crt",
  key: "ca.key",
  bundle: "bundle.pem",
  chain: "chain.pem",
  nextCert: "next.crt",
  nextKey: "next.key",
  previousCert: "previous.crt",
  previousKey: "previous.key",
  record: ROTATION_FILE,
} as const;
export type CaFileRole = keyof typeof CA_FILES;

/** Roles that hold private keys: written with mode 0600. */
export const KEY_ROLES: readonly CaFileRole[] = ["key", "nextKey", "previousKey"];

/** What a planned change does to one file: new text, or null to remove it. */
export type PlannedFiles = ReadonlyMap<CaFileRole, string | null>;

/** The content of a CA directory's files; undefined for a missing file. */
export class CaFiles {
  private constructor(
    readonly dir: string,
    private readonly texts: ReadonlyMap<CaFileRole, string | undefined>,
  ) {}

  /** Reads every file of the layout; throws CaError DIRECTORY_INCONSISTENT for one that exists and cannot be read. */
  static async read(dir: string): Promise<CaFiles> {
    const texts = new Map<CaFileRole, string | undefined>();
    for (const [role, name] of Object.entries(CA_FILES) as [CaFileRole, string][]) {
      const path = join(dir, name);
      try {
        texts.set(role, await readFile(path, "utf8"));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "ENOENT") {
          throw new CaError(CaErrorCode.DIRECTORY_INCONSISTENT, `cannot read ${path} (${code ?? String(err)}); run mesh-ca rotate as the user that owns the CA directory`);
        }
        texts.set(role, undefined);
      }
    }
    return new CaFiles(dir, texts);
  }

  /** The path of a role's file. */
  path(role: CaFileRole): string {
    return join(this.dir, CA_FILES[role]);
  }

  text(role: CaFileRole): string | undefined {
    return this.texts.get(role);
  }

  has(role: CaFileRole): boolean {
    return this.texts.get(role) !== undefined;
  }

  /** The text of a file that must exist; throws CaError DIRECTORY_INCONSISTENT naming it and `advice`. */
  require(role: CaFileRole, advice: string): string {
    const text = this.texts.get(role);
    if (text === undefined) throw new CaError(CaErrorCode.DIRECTORY_INCONSISTENT, `${this.path(role)} is missing: ${advice}`);
    return text;
  }

  /** The directory as it will be after `planned`. */
  with(planned: PlannedFiles): CaFiles {
    const texts = new Map(this.texts);
    for (const [role, text] of planned) texts.set(role, text ?? undefined);
    return new CaFiles(this.dir, texts);
  }
}

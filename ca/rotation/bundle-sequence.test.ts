import { describe, expect, it } from "vitest";
import { bundleSequence } from "./bundle-sequence.js";
import type { RotationRecord } from "./rotation-record.js";

const A = "AA:".repeat(31) + "AA";
const B = "BB:".repeat(31) + "BB";
const record = (sequence: number, roots: string[]): RotationRecord => ({ mode: "root", state: "idle", bundle: { sequence, roots } });

describe("bundleSequence", () => {
  it("is 1 for a directory never rotated", () => {
    expect(bundleSequence(undefined, [A])).toBe(1);
  });

  it("is the recorded sequence while the bundle holds the recorded roots, in any order", () => {
    expect(bundleSequence(record(3, [A, B]), [B, A])).toBe(3);
  });

  it("is one more while the bundle has changed and rotation.json not yet: the number the step then records", () => {
    expect(bundleSequence(record(3, [A]), [A, B])).toBe(4);
    expect(bundleSequence(record(3, [A, B]), [B])).toBe(4);
  });
});

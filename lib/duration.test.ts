import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./duration.js";

describe("durations", () => {
  it("parses Go-style durations into milliseconds", () => {
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("87600h")).toBe(87_600 * 3_600_000);
    expect(parseDuration("1.5s")).toBe(1500);
  });

  it("rejects anything else", () => {
    for (const bad of ["", "30", "1d", "-1s", "1 h", "h", "1h ", "1hh"]) expect(parseDuration(bad)).toBeUndefined();
  });

  it("formats back to the shortest exact form", () => {
    expect(formatDuration(5_400_000)).toBe("1h30m");
    expect(formatDuration(250)).toBe("250ms");
    expect(formatDuration(0)).toBe("0s");
  });
});

import { describe, expect, it } from "vitest";
import { parseLoadResult } from "../../../bench/loadgen/run-load.js";

describe("the load generator's result line", () => {
  it("is the last line of its output", () => {
    const r = parseLoadResult('warming up\n{"seconds":2,"proxyCpu":0.5,"loadgenCpu":1,"ops":1000,"errors":0,"bytes":0}\n');
    expect(r.ops).toBe(1000);
    expect(r.proxyCpu / r.ops).toBe(0.0005);
  });

  it("turns JSON's null back into NaN, so a figure that was not measured is not a zero", () => {
    const r = parseLoadResult('{"seconds":2,"proxyCpu":null,"loadgenCpu":1,"ops":10,"errors":0,"bytes":0}');
    expect(r.proxyCpu).toBeNaN();
    expect((r.proxyCpu / r.ops) * 1e6).toBeNaN();
  });
});

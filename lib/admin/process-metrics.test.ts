import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { registerProcessMetrics } from "./process-metrics.js";

describe("registerProcessMetrics", () => {
  it("exposes process metrics without gauges that carry a counter's _total suffix", async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    const text = await registry.metrics();
    expect(text).toContain("process_cpu_user_seconds_total");
    expect(text).toContain("nodejs_active_handles ");
    const gaugesNamedTotal = [...text.matchAll(/^# TYPE (\S+_total) gauge$/gm)].map((m) => m[1]);
    expect(gaugesNamedTotal).toEqual([]);
  });
});

/**
 * Node process metrics (CPU, memory, event-loop lag, GC) for a program's own
 * registry. prom-client names three gauges `nodejs_active_*_total`, which
 * `promtool check metrics` rejects (a `_total` suffix promises a counter), so
 * they are left out; handles and requests remain visible as
 * `nodejs_active_handles` and `nodejs_active_requests`.
 */
import { collectDefaultMetrics, type Registry } from "prom-client";

const NON_CONFORMING = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

/** Registers the default process metrics in `registry`, minus the names promtool refuses. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of NON_CONFORMING) registry.removeSingleMetric(name);
}

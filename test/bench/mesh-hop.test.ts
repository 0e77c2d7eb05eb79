import { describe, expect, it } from "vitest";
import { seriesValue } from "../../bench/mesh-hop.js";

describe("reading the outbound sidecar's counters", () => {
  const text = [
    "# HELP mesh_sidecar_tls_handshakes_total TLS handshakes",
    'mesh_sidecar_tls_handshakes_total{listener="hop",direction="outbound",result="ok"} 1234',
    'mesh_sidecar_tls_handshakes_total{listener="hop",direction="outbound",result="timeout"} 0',
    'mesh_sidecar_tls_sessions_resumed_total{listener="hop",direction="outbound"} 1200',
  ].join("\n");

  it("finds a series by its exact name and labels", () => {
    expect(seriesValue(text, 'mesh_sidecar_tls_handshakes_total{listener="hop",direction="outbound",result="ok"}')).toBe(1234);
    expect(seriesValue(text, 'mesh_sidecar_tls_sessions_resumed_total{listener="hop",direction="outbound"}')).toBe(1200);
  });

  it("gives NaN for a series that is not there, never another series' value", () => {
    expect(seriesValue(text, 'mesh_sidecar_tls_handshakes_total{listener="hop",direction="outbound",result="expired"}')).toBeNaN();
    expect(seriesValue(text, "mesh_sidecar_tls_handshakes_total")).toBeNaN();
  });
});

import { describe, expect, it } from "vitest";
import { MeshPlan, PORT_SPAN, PORTS } from "./plan.js";
import { portInUseMessage } from "./readiness.js";

describe("MeshPlan", () => {
  it("puts every port at its offset from the base, all distinct and inside the span", () => {
    const plan = new MeshPlan(19000);
    const ports = Object.keys(PORTS).map((role) => plan.port(role as keyof typeof PORTS));
    expect(new Set(ports).size).toBe(ports.length);
    for (const p of ports) expect(p >= 19000 && p < 19000 + PORT_SPAN).toBe(true);
    expect(plan.hostPort("ordersInbound")).toBe("127.0.0.1:19021");
  });

  it("gives the YAML files one environment variable per port and the state directory", () => {
    const env = new MeshPlan(19000).env("/state");
    expect(env).toMatchObject({ MESH_LOCAL_DIR: "/state", MESH_LOCAL_CA_API_PORT: "19000", MESH_LOCAL_ORDERS_ADMIN_PORT: "19023" });
    expect(Object.keys(env)).toHaveLength(Object.keys(PORTS).length + 1);
  });

  it("writes mesh.json in the shape docs/local-mesh.md gives", () => {
    const json = new MeshPlan(19000).meshJson();
    expect(json.ca).toEqual({ api: "127.0.0.1:19000", admin: "127.0.0.1:19001" });
    expect(json.services.orders).toEqual({
      spiffeId: "spiffe://example.org/ns/default/sa/orders",
      app: "127.0.0.1:19020",
      admin: "127.0.0.1:19023",
      inbound: { orders: "127.0.0.1:19021" },
      outbound: {},
    });
    expect(json.services.frontend?.outbound).toEqual({ orders: "127.0.0.1:19012" });
  });

  it.each([80, 65530, 1.5, Number.NaN])("refuses base port %s", (base) => {
    expect(() => new MeshPlan(base)).toThrow(/MESH_LOCAL_BASE_PORT must be an integer/);
  });

  it("names the port, its user and the setting that moves the mesh when a port is taken", () => {
    const message = portInUseMessage(new MeshPlan(18000), "ordersInbound");
    expect(message).toContain("port 18021");
    expect(message).toContain("orders sidecar inbound listener (deploy/local/orders.sidecar.yaml: inbound[0].listen)");
    expect(message).toContain("MESH_LOCAL_BASE_PORT=19000 npm start");
  });
});

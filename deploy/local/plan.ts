/**
 * The local mesh's fixed shape: which services exist, their SPIFFE IDs, the
 * client identities for trying calls by hand, and every port as an offset
 * from one base port. The YAML files in deploy/local/ read the ports from
 * the environment variables named here, so moving the whole mesh is one
 * setting (MESH_LOCAL_BASE_PORT) and two meshes can run side by side.
 */
import { formatHostPort, type HostPort } from "../../lib/net/address.js";

/** The default first port; every other port is an offset from it. */
export const DEFAULT_BASE_PORT = 18000;

/** The environment variable (and `--base-port` flag) that moves every port. */
export const BASE_PORT_ENV = "MESH_LOCAL_BASE_PORT";

/** Trust domain of the local mesh (ca.yaml and both sidecar configs say the same). */
export const TRUST_DOMAIN = "example.org";

/** SPIFFE ID of a sample service in the local mesh. */
export function serviceId(name: string): string {
  return `spiffe://${TRUST_DOMAIN}/ns/default/sa/${name}`;
}

/** Identities issued to .mesh-local/clients/ for calls by hand: one the policy allows, one it does not. */
export const CLIENTS = {
  allowed: { name: "frontend", spiffeId: serviceId("frontend") },
  denied: { name: "outsider", spiffeId: serviceId("outsider") },
} as const;

/** One port the mesh listens on. */
export interface PortSlot {
  /** Environment variable the YAML files read it from. */
  readonly env: string;
  readonly offset: number;
  /** Who listens there and which config key sets it, for the "port in use" message. */
  readonly what: string;
}

/** Every port, by role. */
export const PORTS = {
  caApi: { env: "MESH_LOCAL_CA_API_PORT", offset: 0, what: "mesh-ca HTTPS API (deploy/local/ca.yaml: listen)" },
  caAdmin: { env: "MESH_LOCAL_CA_ADMIN_PORT", offset: 1, what: "mesh-ca admin (deploy/local/ca.yaml: admin)" },
  frontendApp: { env: "MESH_LOCAL_FRONTEND_APP_PORT", offset: 10, what: "frontend sample app (deploy/local/frontend.sidecar.yaml: inbound[0].forward)" },
  frontendInbound: { env: "MESH_LOCAL_FRONTEND_INBOUND_PORT", offset: 11, what: "frontend sidecar inbound listener (deploy/local/frontend.sidecar.yaml: inbound[0].listen)" },
  frontendToOrders: { env: "MESH_LOCAL_FRONTEND_TO_ORDERS_PORT", offset: 12, what: "frontend sidecar outbound listener to orders (deploy/local/frontend.sidecar.yaml: outbound[0].listen)" },
  frontendAdmin: { env: "MESH_LOCAL_FRONTEND_ADMIN_PORT", offset: 13, what: "frontend sidecar admin (deploy/local/frontend.sidecar.yaml: admin)" },
  ordersApp: { env: "MESH_LOCAL_ORDERS_APP_PORT", offset: 20, what: "orders sample app (deploy/local/orders.sidecar.yaml: inbound[0].forward)" },
  ordersInbound: { env: "MESH_LOCAL_ORDERS_INBOUND_PORT", offset: 21, what: "orders sidecar inbound listener (deploy/local/orders.sidecar.yaml: inbound[0].listen)" },
  ordersAdmin: { env: "MESH_LOCAL_ORDERS_ADMIN_PORT", offset: 23, what: "orders sidecar admin (deploy/local/orders.sidecar.yaml: admin)" },
} as const satisfies Record<string, PortSlot>;

/** Ports span [base, base + PORT_SPAN). */
export const PORT_SPAN = 24;

export type PortRole = keyof typeof PORTS;

/** All addresses of one run. Everything listens on loopback. */
export class MeshPlan {
  readonly host = "127.0.0.1";

  constructor(readonly basePort: number) {
    if (!Number.isInteger(basePort) || basePort < 1024 || basePort + PORT_SPAN > 65536) {
      throw new RangeError(`${BASE_PORT_ENV} must be an integer from 1024 to ${65536 - PORT_SPAN}, got ${basePort}`);
    }
  }

  port(role: PortRole): number {
    return this.basePort + PORTS[role].offset;
  }

  address(role: PortRole): HostPort {
    return { host: this.host, port: this.port(role) };
  }

  /** `127.0.0.1:PORT` of a role. */
  hostPort(role: PortRole): string {
    return formatHostPort(this.address(role));
  }

  /** The environment the YAML files in deploy/local/ expect: every port, and the state directory. */
  env(stateDir: string): Record<string, string> {
    const out: Record<string, string> = { MESH_LOCAL_DIR: stateDir };
    for (const [role, slot] of Object.entries(PORTS)) out[slot.env] = String(this.port(role as PortRole));
    return out;
  }

  /** `.mesh-local/mesh.json`, in the shape docs/local-mesh.md gives. */
  meshJson(): MeshJson {
    return {
      ca: { api: this.hostPort("caApi"), admin: this.hostPort("caAdmin") },
      services: {
        frontend: {
          spiffeId: serviceId("frontend"),
          app: this.hostPort("frontendApp"),
          admin: this.hostPort("frontendAdmin"),
          inbound: { frontend: this.hostPort("frontendInbound") },
          outbound: { orders: this.hostPort("frontendToOrders") },
        },
        orders: {
          spiffeId: serviceId("orders"),
          app: this.hostPort("ordersApp"),
          admin: this.hostPort("ordersAdmin"),
          inbound: { orders: this.hostPort("ordersInbound") },
          outbound: {},
        },
      },
    };
  }
}

/** One service in mesh.json. */
export interface MeshJsonService {
  spiffeId: string;
  app: string;
  admin: string;
  inbound: Record<string, string>;
  outbound: Record<string, string>;
}

/** The shape of `.mesh-local/mesh.json` (docs/local-mesh.md); every value is host:port. */
export interface MeshJson {
  ca: { api: string; admin: string };
  services: Record<string, MeshJsonService>;
}

/**
 * The topology most end-to-end tests need, on loopback: mesh-ca, an
 * "orders" pod (inbound sidecar → a backend in the test process) and a
 * "frontend" pod (its outbound sidecar → orders). The test plays the
 * frontend app by sending plain HTTP to the frontend's outbound listener, so
 * every request crosses app → outbound sidecar → inbound sidecar → app.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts, ProcessGroup } from "../../helpers/processes.js";
import { startBackend, type Backend } from "./backends.js";
import { CaDir, CaServer, policyYaml, requireBuilt, Sidecar, workloadId, type CaServerOptions, type SidecarOptions } from "./mesh.js";

/** Knobs of startTwoPods. */
export interface TwoPodOptions {
  svid?: CaServerOptions["svid"];
  /** Policy of the orders inbound listener (named "orders"); default: allow frontend. */
  ordersPolicy?: string;
  /** Extra settings for both sidecars. */
  sidecar?: Partial<Pick<SidecarOptions, "ttl" | "limits" | "renewal" | "tls" | "logLevel">>;
  /** Join token uses per sidecar (a sidecar whose SVID lapsed needs the token again). */
  tokenUses?: number;
}

/** A running two-pod mesh. */
export interface TwoPods {
  readonly work: string;
  readonly group: ProcessGroup;
  readonly ca: CaDir;
  readonly caServer: CaServer;
  readonly backend: Backend;
  readonly orders: Sidecar;
  readonly frontend: Sidecar;
  /** Where a peer with its own SVID connects to orders (mTLS). */
  readonly ordersInbound: string;
  /** Where the frontend app sends plain HTTP to reach orders. */
  readonly frontendToOrders: string;
  /** A fresh port on 127.0.0.1 for anything else a test starts. */
  readonly spare: () => Promise<number>;
  /** Stops every process and removes the work directory. */
  close(): Promise<void>;
}

export const FRONTEND_ID = workloadId("frontend");
export const ORDERS_ID = workloadId("orders");
/** A third workload whose access to orders the policy tests grant or take away. */
export const BILLING_ID = workloadId("billing");

/**
 * Starts a "billing" pod's sidecar with one outbound listener to orders and
 * waits until it is ready; returns where its app sends plain HTTP to reach orders.
 */
export async function startBillingSidecar(mesh: TwoPods): Promise<string> {
  const [out, admin] = [await mesh.spare(), await mesh.spare()];
  const billingToOrders = `127.0.0.1:${out}`;
  await new Sidecar(mesh.group, {
    name: "billing-sidecar",
    dir: join(mesh.work, "billing"),
    caUrl: mesh.caServer.apiUrl,
    bundleFile: mesh.ca.bundleFile,
    joinToken: await mesh.ca.joinToken(BILLING_ID),
    outbound: [{ name: "orders", listen: billingToOrders, upstream: mesh.ordersInbound, expectedPeer: ORDERS_ID }],
    admin: `127.0.0.1:${admin}`,
  }).start();
  return billingToOrders;
}

/** Starts mesh-ca, the orders backend and both sidecars, and waits until all are ready. */
export async function startTwoPods(opts: TwoPodOptions = {}): Promise<TwoPods> {
  requireBuilt();
  const work = mkdtempSync(join(tmpdir(), "mesh-e2e-"));
  const group = new ProcessGroup();
  const backend = await startBackend("orders");
  try {
    const [caApi, caAdmin, ordersIn, ordersAdmin, frontOut, frontAdmin] = await freePorts(6);
    const ca = await CaDir.init(join(work, "ca"));
    const caServer = new CaServer(group, { ca, listen: `127.0.0.1:${caApi}`, admin: `127.0.0.1:${caAdmin}`, ...(opts.svid ? { svid: opts.svid } : {}) });
    await caServer.start();
    const uses = opts.tokenUses ?? 100;
    const orders = new Sidecar(group, {
      name: "orders-sidecar",
      dir: join(work, "orders"),
      caUrl: caServer.apiUrl,
      bundleFile: ca.bundleFile,
      joinToken: await ca.joinToken(ORDERS_ID, { uses }),
      expectedId: ORDERS_ID,
      inbound: [{ name: "orders", listen: `127.0.0.1:${ordersIn}`, forward: backend.hostPort }],
      policy: opts.ordersPolicy ?? policyYaml({ orders: { allow: [FRONTEND_ID] } }),
      admin: `127.0.0.1:${ordersAdmin}`,
      ...opts.sidecar,
    });
    const frontend = new Sidecar(group, {
      name: "frontend-sidecar",
      dir: join(work, "frontend"),
      caUrl: caServer.apiUrl,
      bundleFile: ca.bundleFile,
      joinToken: await ca.joinToken(FRONTEND_ID, { uses }),
      expectedId: FRONTEND_ID,
      outbound: [{ name: "orders", listen: `127.0.0.1:${frontOut}`, upstream: `127.0.0.1:${ordersIn}`, expectedPeer: ORDERS_ID }],
      admin: `127.0.0.1:${frontAdmin}`,
      ...opts.sidecar,
    });
    await Promise.all([orders.start(), frontend.start()]);
    return {
      work,
      group,
      ca,
      caServer,
      backend,
      orders,
      frontend,
      ordersInbound: `127.0.0.1:${ordersIn}`,
      frontendToOrders: `127.0.0.1:${frontOut}`,
      spare: async () => (await freePorts(1))[0] as number,
      close: async () => {
        await group.stopAll();
        await backend.close();
        if (!process.env.E2E_KEEP) rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    const dump = group.dump();
    await group.stopAll();
    await backend.close();
    rmSync(work, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${dump}`);
  }
}

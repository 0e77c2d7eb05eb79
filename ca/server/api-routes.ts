/**
 * The HTTPS API's endpoints: `POST /v1/svid` (svid-handler.ts) and the trust
 * bundle as PEM and as SPIFFE bundle JSON (with `spiffe_sequence` and
 * `spiffe_refresh_hint`), both from the signing set in force. Anything else
 * is answered in the API's error shape (404, or 405 with `Allow`).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SpiffeBundleJson } from "../../lib/spiffe/bundle.js";
import type { BundleSettings } from "../config.js";
import { ApiError, ApiErrorCode } from "../errors.js";
import { sendError } from "./http.js";
import { handleSvidRequest, type SvidHandlerDeps } from "./svid-handler.js";

/** Answers one API request; never throws. */
export function routeApiRequest(req: IncomingMessage, res: ServerResponse, deps: SvidHandlerDeps): void {
  const path = (req.url ?? "/").split("?")[0];
  const allow = (methods: string): boolean => {
    if (methods.split(", ").includes(req.method ?? "")) return true;
    sendError(res, new ApiError(ApiErrorCode.METHOD_NOT_ALLOWED, `use ${methods} for ${path}`, { headers: { allow: methods } }));
    return false;
  };
  switch (path) {
    case "/v1/svid":
      if (allow("POST")) void handleSvidRequest(req, res, deps);
      return;
    case "/v1/bundle":
      if (allow("GET, HEAD")) sendText(res, "application/x-pem-file", deps.signing.current.authority.bundle.pem, deps.bundle);
      return;
    case "/v1/bundle.json":
      if (allow("GET, HEAD")) sendText(res, "application/json", JSON.stringify(bundleJson(deps)), deps.bundle);
      return;
    default:
      sendError(res, new ApiError(ApiErrorCode.NOT_FOUND, `no such endpoint ${String(path).slice(0, 100)}: the API has POST /v1/svid, GET /v1/bundle and GET /v1/bundle.json`));
  }
}

/** SPIFFE bundle JSON with the sequence of the set in force and the refresh hint in seconds. */
function bundleJson(deps: SvidHandlerDeps): SpiffeBundleJson {
  const { authority, sequence } = deps.signing.current;
  return authority.bundle.toSpiffeJson({ sequence, refreshHintSeconds: deps.bundle.refreshHintMs / 1000 });
}

function sendText(res: ServerResponse, type: string, text: string, bundle: BundleSettings): void {
  // No cache may hold the bundle longer than clients are told to refresh it.
  const maxAge = Math.min(60, bundle.refreshHintMs / 1000);
  res.writeHead(200, { "content-type": type, "content-length": String(Buffer.byteLength(text)), "cache-control": `max-age=${maxAge}` });
  res.end(text);
}

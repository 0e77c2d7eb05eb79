/**
 * The HTTPS API's endpoints: `POST /v1/svid` (svid-handler.ts) and the trust
 * bundle as PEM and as SPIFFE bundle JSON. Anything else is answered in the
 * API's error shape (404, or 405 with `Allow`).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
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
      if (allow("GET, HEAD")) sendText(res, "application/x-pem-file", deps.authority.bundle.pem);
      return;
    case "/v1/bundle.json":
      if (allow("GET, HEAD")) sendText(res, "application/json", JSON.stringify(deps.authority.bundle.toSpiffeJson()));
      return;
    default:
      sendError(res, new ApiError(ApiErrorCode.NOT_FOUND, `no such endpoint ${String(path).slice(0, 100)}: the API has POST /v1/svid, GET /v1/bundle and GET /v1/bundle.json`));
  }
}

function sendText(res: ServerResponse, type: string, text: string): void {
  res.writeHead(200, { "content-type": type, "content-length": String(Buffer.byteLength(text)), "cache-control": "max-age=60" });
  res.end(text);
}

/**
 * Small HTTP helpers for the API: bounded body reading and the one answer
 * shape for errors, `{"error": {"code", "message"}}`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError, ApiErrorCode } from "../errors.js";

/** Reads the request body, refusing (413) more than maxBytes without buffering it. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        done = true;
        req.off("data", onData);
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks, size));
    });
    const gone = (): void => {
      if (done || req.complete) return;
      done = true;
      reject(new ApiError(ApiErrorCode.INVALID_REQUEST, "the request body ended early", { reason: "client_aborted" }));
    };
    req.once("error", gone);
    req.once("close", gone);
  });
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(ApiErrorCode.BODY_TOO_LARGE, `request body is larger than ${maxBytes} bytes; a CSR is about 1 KiB`, {
    reason: "body_too_large",
  });
}

/** Sends a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

/** Sends an ApiError in the API's error shape; a 413 also closes the connection (the rest of the body is not read). */
export function sendError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = err.status === 413 ? { ...err.headers, connection: "close" } : err.headers;
  sendJson(res, err.status, err.toJSON(), headers);
}

/** The media type of a request without parameters, lowercased ("application/json"). */
export function mediaType(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

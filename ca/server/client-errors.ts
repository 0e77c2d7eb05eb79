/**
 * Requests the HTTP layer refuses before the API sees them: headers over
 * Node's limit (16 KiB), bytes that are not HTTP/1.1, and requests not
 * complete within limits.headersTimeout or limits.requestTimeout. Node's
 * own answer to these is a bare status line with no body, no log line and
 * no metric; here each gets what every other refusal of the API gets: the
 * JSON error body with a documented code (docs/errors.md), one log line and
 * a count in mesh_ca_http_refusals_total{code}.
 *
 * There is no request or response object at this point (Node's
 * `clientError` event), so the answer is written on the socket itself, then
 * the connection is closed: after a parse error nothing else on it can be
 * trusted. The log line has the remote address and Node's error code, never
 * the request's bytes (`err.rawPacket` can hold a bearer token).
 */
import { maxHeaderSize } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../../lib/log.js";
import { formatDuration } from "../../lib/duration.js";
import { ApiError, ApiErrorCode } from "../errors.js";
import type { CaMetrics, HttpRefusalCode } from "../metrics.js";

/** What the refusals are judged and reported with. */
export interface ClientErrorDeps {
  metrics: CaMetrics;
  logger: Logger;
  limits: { headersTimeoutMs: number; requestTimeoutMs: number };
}

/** An error of Node's HTTP parser or request timers, as `clientError` passes it. */
type ClientError = Error & { code?: string; reason?: string };

/** The parts of the socket the answer needs (an https.Server passes a TLSSocket). */
type ClientSocket = Duplex & { remoteAddress?: string; _httpMessage?: { headersSent?: boolean } | null };

const REASON_PHRASE: Readonly<Record<number, string>> = { 400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large" };

/** The `clientError` listener of the API server. */
export function answerClientError(deps: ClientErrorDeps): (err: ClientError, socket: ClientSocket) => void {
  return (err, socket) => {
    const remoteAddress = socket.remoteAddress;
    if (err.code === "ECONNRESET" || socket.destroyed) {
      // The client went away; there is nobody to answer and nothing was refused.
      deps.logger.debug({ nodeCode: err.code, remoteAddress }, "client connection ended during a request");
      socket.destroy();
      return;
    }
    const refusal = refusalFor(err, deps.limits);
    deps.metrics.httpRefusals.inc({ code: refusal.code as HttpRefusalCode });
    deps.logger.warn(
      { event: "http_refused", code: refusal.code, status: refusal.status, nodeCode: err.code, remoteAddress },
      `refused a request before reading it: ${refusal.message}`,
    );
    // A response already under way cannot be followed by another on the same connection.
    const answerable = socket.writable && !socket._httpMessage?.headersSent;
    if (!answerable) {
      socket.destroy();
      return;
    }
    socket.end(rawResponse(refusal), () => socket.destroy());
  };
}

/** The ApiError a client error is answered with. */
export function refusalFor(err: ClientError, limits: ClientErrorDeps["limits"]): ApiError {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return new ApiError(
        ApiErrorCode.HEADERS_TOO_LARGE,
        `the request's headers are larger than ${maxHeaderSize} bytes; a bearer token is 1 to 2 KiB, so check what sends this request`,
      );
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new ApiError(
        ApiErrorCode.REQUEST_TIMEOUT,
        `the request did not arrive in time: headers must be complete within ${formatDuration(limits.headersTimeoutMs)} (limits.headersTimeout) and the whole request within ${formatDuration(limits.requestTimeoutMs)} (limits.requestTimeout)`,
      );
    default:
      return new ApiError(ApiErrorCode.MALFORMED_REQUEST, `the request is not valid HTTP/1.1${parserReason(err)}; send a request line, headers and a blank line as RFC 9112 describes`);
  }
}

/** llhttp's reason ("Invalid method encountered"): a fixed phrase of the parser, never the request's bytes. */
function parserReason(err: ClientError): string {
  return typeof err.reason === "string" && /^[A-Za-z][A-Za-z .,'-]{0,79}$/.test(err.reason) ? ` (${err.reason})` : "";
}

/** A complete HTTP/1.1 response carrying the error body, ending the connection. */
function rawResponse(err: ApiError): string {
  const body = JSON.stringify(err.toJSON());
  return [
    `HTTP/1.1 ${err.status} ${REASON_PHRASE[err.status] ?? "Error"}`,
    "content-type: application/json",
    `content-length: ${Buffer.byteLength(body)}`,
    "cache-control: no-store",
    "connection: close",
    "",
    body,
  ].join("\r\n");
}

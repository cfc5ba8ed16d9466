/**
 * The server's answers: the error a request ends with (a status and a sentence, raised
 * wherever the request is refused, on the HTTP thread or in the tokenizer's worker), and the
 * JSON and header conventions every response follows (CORS when asked for, Allow, Retry-After).
 * @module
 */

/** A refusal: its HTTP status, and a message that says what is wrong and what to do. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Seconds after which a retry may succeed (429), sent as Retry-After. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** Headers every response of a server gets: CORS, when it was started with an origin. */
export function baseHeaders(cors: string | null): Headers {
  const headers = new Headers();
  if (cors) {
    headers.set("access-control-allow-origin", cors);
    headers.set("access-control-expose-headers", "retry-after");
    if (cors !== "*") headers.set("vary", "origin");
  }
  return headers;
}

/** A JSON response with the server's headers. */
export function json(status: number, body: unknown, headers: Headers): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json");
  return new Response(JSON.stringify(body), { status, headers: h });
}

/** The JSON answer of a refusal, with Retry-After when it has one. */
export function errorResponse(err: HttpError, headers: Headers): Response {
  const h = new Headers(headers);
  if (err.retryAfter !== undefined) h.set("retry-after", String(err.retryAfter));
  return json(err.status, { error: err.message }, h);
}

/**
 * The answer to OPTIONS on a route: 204 with Allow, and, on a server with CORS, what a
 * browser's preflight asks for (the methods, the content-type header, for ten minutes).
 */
export function optionsResponse(allow: string, headers: Headers, cors: string | null): Response {
  const h = new Headers(headers);
  h.set("allow", allow);
  if (cors) {
    h.set("access-control-allow-methods", allow);
    h.set("access-control-allow-headers", "content-type");
    h.set("access-control-max-age", "600");
  }
  return new Response(null, { status: 204, headers: h });
}

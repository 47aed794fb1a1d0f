/** Node socket error codes that mean a backing service cannot be reached right now. */
const SOCKET_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/**
 * True when `err` carries a Node socket error code (`ECONNREFUSED`, `ETIMEDOUT`, ...)
 * that means the service at the other end is unreachable, not that the request was
 * wrong. Adapters use it in their one error-translation function.
 */
export function isSocketUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" && SOCKET_ERROR_CODES.has(code);
}

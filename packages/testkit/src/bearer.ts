import type { Transport } from "@connectrpc/connect";

/**
 * `transport` with `Authorization: Bearer <token>` on every call, the token asked
 * for each call (so a test can hand out fresh or deliberately bad tokens).
 *
 * @example
 * const alice = withBearerToken(server.transport, () => server.token("alice"));
 * await createClient(MessageService, alice).sendMessage({ ... });
 */
export function withBearerToken(transport: Transport, token: () => Promise<string>): Transport {
  const auth = async (header: HeadersInit | undefined) => {
    const headers = new Headers(header);
    headers.set("authorization", `Bearer ${await token()}`);
    return headers;
  };
  return {
    unary: async (method, signal, timeoutMs, header, input, ctx) =>
      transport.unary(method, signal, timeoutMs, await auth(header), input, ctx),
    stream: async (method, signal, timeoutMs, header, input, ctx) =>
      transport.stream(method, signal, timeoutMs, await auth(header), input, ctx),
  };
}

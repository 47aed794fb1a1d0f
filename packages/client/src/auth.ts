import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import type { ContextValues, StreamResponse, Transport, UnaryResponse } from "@connectrpc/connect";
import { isParleyError, toParleyError } from "./errors.js";

/** Where the client gets its access token: a fixed string or a (possibly async) provider. */
export type TokenSource = string | (() => string | Promise<string>);

/** Caches the token of a {@link TokenSource} and fetches a new one on demand. */
export interface TokenCache {
  /** The current token (fetched on first use). */
  get(): Promise<string>;
  /** Asks the provider again (concurrent callers share one call). */
  refresh(): Promise<string>;
}

/** A {@link TokenCache} over `source`. */
export function createTokenCache(source: TokenSource): TokenCache {
  let current: Promise<string> | undefined;
  const fetch = () => {
    const next = Promise.resolve().then(() => (typeof source === "string" ? source : source()));
    current = next;
    // A failed provider call is not cached.
    next.catch(() => {
      if (current === next) current = undefined;
    });
    return next;
  };
  let refreshing: Promise<string> | undefined;
  return {
    get: () => current ?? fetch(),
    refresh() {
      refreshing ??= fetch().finally(() => {
        refreshing = undefined;
      });
      return refreshing;
    },
  };
}

function withAuthorization(header: HeadersInit | undefined, token: string): Headers {
  const headers = new Headers(header);
  headers.set("authorization", `Bearer ${token}`);
  return headers;
}

function isExpired(err: unknown): boolean {
  return isParleyError(toParleyError(err), "TOKEN_EXPIRED");
}

/**
 * Wraps a transport so every unary call and stream carries
 * `authorization: Bearer <token>`. When the server answers TOKEN_EXPIRED, the
 * token is fetched again and the call retried once (for streams: when the error
 * comes before the first response message).
 */
export function createAuthTransport(transport: Transport, tokens: TokenCache): Transport {
  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const call = (token: string) =>
        transport.unary(method, signal, timeoutMs, withAuthorization(header, token), input, contextValues);
      try {
        return await call(await tokens.get());
      } catch (err) {
        if (!isExpired(err)) throw err;
        return call(await tokens.refresh());
      }
    },

    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      // Parley's streams are server streams: the input is one message, so it can be replayed.
      const inputs: MessageInitShape<I>[] = [];
      for await (const message of input) inputs.push(message);
      const replay = async function* () {
        yield* inputs;
      };
      const call = (token: string) =>
        transport.stream(
          method,
          signal,
          timeoutMs,
          withAuthorization(header, token),
          replay(),
          contextValues,
        );
      let first: StreamResponse<I, O>;
      try {
        first = await call(await tokens.get());
      } catch (err) {
        if (!isExpired(err)) throw err;
        return call(await tokens.refresh());
      }
      const messages = async function* () {
        let received = false;
        try {
          for await (const message of first.message) {
            received = true;
            yield message;
          }
        } catch (err) {
          if (received || !isExpired(err)) throw err;
          const second = await call(await tokens.refresh());
          yield* second.message;
        }
      };
      return { ...first, message: messages() };
    },
  };
}

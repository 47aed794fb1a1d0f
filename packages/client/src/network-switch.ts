import type { DescMessage, DescMethodStreaming, DescMethodUnary, MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import type { NetworkMonitor } from "./network.js";

/**
 * A switch between a client and its transport that can cut the network, for
 * testing offline behaviour (of the SDK or of an app's UI) without a real network.
 */
export interface NetworkSwitch {
  /** The wrapped transport: pass it to `createParleyClient({ transport })`. */
  readonly transport: Transport;
  /** A {@link NetworkMonitor} that follows the switch: pass it as `network` so the client notices at once. */
  readonly monitor: NetworkMonitor;
  /** Whether calls currently go through. */
  isOnline(): boolean;
  /**
   * `false`: new calls fail with a Connect `unavailable` "network down" error and
   * open calls and streams are aborted with the same error (a request may still
   * have reached the server: its answer is lost, as on a real network). `true`:
   * calls go through again.
   */
  setOnline(online: boolean): void;
}

/** Options for {@link createNetworkSwitch}. */
export interface NetworkSwitchOptions {
  /** Whether the network starts up. @defaultValue true */
  online?: boolean;
}

function networkDown(): ConnectError {
  return new ConnectError("network down", Code.Unavailable);
}

/**
 * Wraps `transport` in a {@link NetworkSwitch}.
 *
 * @example
 * ```ts
 * const net = createNetworkSwitch(server.transport);
 * const client = createParleyClient({ transport: net.transport, network: net.monitor, userId, token });
 * net.setOnline(false); // sends now wait in the outbox
 * ```
 */
export function createNetworkSwitch(transport: Transport, options: NetworkSwitchOptions = {}): NetworkSwitch {
  let online = options.online ?? true;
  const open = new Set<AbortController>();
  const listeners = new Set<(online: boolean) => void>();

  /** A controller aborted by the caller's signal or by the switch, removed from `open` by `done`. */
  function track(signal: AbortSignal | undefined): { controller: AbortController; done(): void } {
    const controller = new AbortController();
    const forward = () => controller.abort(signal?.reason);
    if (signal?.aborted) forward();
    signal?.addEventListener("abort", forward, { once: true });
    open.add(controller);
    return {
      controller,
      done() {
        open.delete(controller);
        signal?.removeEventListener("abort", forward);
      },
    };
  }

  const cut = (controller: AbortController) => controller.signal.reason instanceof NetworkDownReason;
  const abortError = (controller: AbortController) =>
    cut(controller) ? networkDown() : new ConnectError("operation was aborted", Code.Canceled);
  /** A promise that rejects when `controller` aborts (never resolves). */
  const whenAborted = (controller: AbortController) => {
    const aborted = new Promise<never>((_, reject) => {
      if (controller.signal.aborted) reject(abortError(controller));
      controller.signal.addEventListener("abort", () => reject(abortError(controller)), { once: true });
    });
    aborted.catch(() => {});
    return aborted;
  };

  const wrapped: Transport = {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      if (!online) throw networkDown();
      const call = track(signal);
      try {
        const response = transport.unary(
          method,
          call.controller.signal,
          timeoutMs,
          header,
          input,
          contextValues,
        );
        const result = await Promise.race([response, whenAborted(call.controller)]);
        if (cut(call.controller)) throw networkDown();
        return result;
      } catch (err) {
        if (cut(call.controller)) throw networkDown();
        throw err;
      } finally {
        call.done();
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
      if (!online) throw networkDown();
      const call = track(signal);
      let response: StreamResponse<I, O>;
      try {
        response = await transport.stream(
          method,
          call.controller.signal,
          timeoutMs,
          header,
          input,
          contextValues,
        );
      } catch (err) {
        call.done();
        throw cut(call.controller) ? networkDown() : err;
      }
      const inner = response.message;
      const messages = async function* () {
        const iterator = inner[Symbol.asyncIterator]();
        const aborted = whenAborted(call.controller);
        try {
          for (;;) {
            if (cut(call.controller)) throw networkDown();
            const next = await Promise.race([iterator.next(), aborted]);
            if (next.done) return;
            yield next.value;
          }
        } catch (err) {
          throw cut(call.controller) ? networkDown() : err;
        } finally {
          call.done();
          // The consumer stopped early or the call broke: end the underlying stream too.
          if (!call.controller.signal.aborted) call.controller.abort();
          iterator.return?.().catch(() => {});
        }
      };
      return { ...response, message: messages() };
    },
  };

  return {
    transport: wrapped,
    monitor: {
      isOnline: () => online,
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    isOnline: () => online,
    setOnline(next) {
      if (next === online) return;
      online = next;
      if (!online) {
        for (const controller of [...open]) controller.abort(new NetworkDownReason());
      }
      for (const listener of [...listeners]) listener(online);
    },
  };
}

/** The abort reason the switch uses, to tell its aborts from the caller's. */
class NetworkDownReason extends Error {
  constructor() {
    super("network down");
    this.name = "NetworkDownReason";
  }
}

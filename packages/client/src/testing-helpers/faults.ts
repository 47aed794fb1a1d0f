import {
  clone,
  create,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import {
  decodeCursor,
  type Event,
  EventSchema,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from "@parley/protocol";

/**
 * Fault injection between a client and a real server, for randomized tests.
 * Every fault here is one a correct client must tolerate:
 *
 * - duplicated deliveries: a Subscribe response is yielded twice (same event id,
 *   same cursor);
 * - reordered deliveries: two adjacent events are swapped, but only when the
 *   order cannot matter to any correct client, that is when both are
 *   MessageCreated (messages are placed by seq; counters merge with max) or they
 *   belong to different conversations (no shared state). Never an event and a
 *   CaughtUp, never two updates of one conversation's state (MessageUpdated and
 *   MembershipChanged/ConversationUpdated carry whole states, so the last one
 *   must win; ReceiptUpdated follows the MessageCreated it counts). The cursors
 *   are rewritten so that stopping between the two loses nothing: the first one
 *   yielded carries the cursor from before both, the second the cursor after
 *   both, so a reconnect in between replays both (which a client drops as replays);
 * - duplicated mutations: a unary MessageService mutation is sent twice with the
 *   same client id and the second answer is returned (the server's idempotency
 *   returns the original result);
 * - lost answers: a mutation reaches the server but its answer is replaced by a
 *   Connect `unavailable` error, so the client retries it with the same id;
 * - replays: Subscribe asks from an older cursor this device saw, so the server
 *   replays events the client already applied (as after a snapshot, whose cursor
 *   may precede what it shows).
 */
export interface FaultRates {
  /** Chance a Subscribe response is yielded twice. */
  readonly duplicate: number;
  /** Chance an event is swapped with the next one (when that is allowed and already there). */
  readonly reorder: number;
  /** Chance a mutation is sent twice. */
  readonly duplicateMutation: number;
  /** Chance a mutation's answer is lost after the server applied it. */
  readonly lostAnswer: number;
  /** Chance a Subscribe starts from an older cursor. */
  readonly replay: number;
}

/** What was injected (accumulates across every transport sharing it). */
export interface FaultStats {
  duplicated: number;
  reordered: number;
  duplicatedMutations: number;
  lostAnswers: number;
  replays: number;
}

/** A new, zeroed {@link FaultStats}. */
export function emptyFaultStats(): FaultStats {
  return { duplicated: 0, reordered: 0, duplicatedMutations: 0, lostAnswers: 0, replays: 0 };
}

/** Options for {@link createFaultyTransport}. */
export interface FaultyTransportOptions {
  /** Random numbers in [0, 1): a seeded generator, so a run can be replayed. */
  readonly random: () => number;
  readonly rates: FaultRates;
  /** Where injected faults are counted. */
  readonly stats: FaultStats;
  /** Cursors this device was given, oldest first; kept by the caller across reloads. @defaultValue a new list */
  readonly cursors?: string[];
}

const MUTATIONS = new Set([
  "SendMessage",
  "EditMessage",
  "DeleteMessage",
  "AddReaction",
  "RemoveReaction",
  "MarkRead",
  "MarkDelivered",
]);

function isMutation(method: { name: string; parent: { typeName: string } }): boolean {
  return method.parent.typeName === "parley.v1.MessageService" && MUTATIONS.has(method.name);
}

function isSubscribe(method: { name: string; parent: { typeName: string } }): boolean {
  return method.parent.typeName === "parley.v1.SyncService" && method.name === "Subscribe";
}

function position(cursor: string): number {
  try {
    return decodeCursor(cursor);
  } catch {
    return -1;
  }
}

function eventOf(res: SubscribeResponse): Event | undefined {
  return res.kind.case === "event" ? res.kind.value : undefined;
}

/** True when delivering `b` before `a` cannot change what a correct client ends up with. */
function swappable(a: Event, b: Event): boolean {
  if (a.payload.case === "messageCreated" && b.payload.case === "messageCreated") return true;
  return a.conversationId !== b.conversationId;
}

function withCursor(event: Event, cursor: string): SubscribeResponse {
  const copy = clone(EventSchema, event);
  copy.cursor = cursor;
  return create(SubscribeResponseSchema, { kind: { case: "event", value: copy } });
}

/** Wraps `inner` so that it injects the faults described on {@link FaultRates}. */
export function createFaultyTransport(inner: Transport, options: FaultyTransportOptions): Transport {
  const { random, rates, stats } = options;
  const cursors = options.cursors ?? [];
  const record = (cursor: string) => {
    if (cursor !== "" && cursors[cursors.length - 1] !== cursor) cursors.push(cursor);
  };

  /** An older cursor than `cursor` that this device saw, or undefined. */
  const olderCursor = (cursor: string): string | undefined => {
    const current = position(cursor);
    if (current < 0) return undefined;
    const older = cursors.filter((c) => {
      const p = position(c);
      return p >= 0 && p < current;
    });
    if (older.length === 0) return undefined;
    // Mostly recent ones (a short replay), sometimes any.
    const recent = older.slice(-20);
    const pool = random() < 0.7 ? recent : older;
    return pool[Math.floor(random() * pool.length)];
  };

  async function* faulty(source: AsyncIterable<SubscribeResponse>, startCursor: string) {
    const iterator = source[Symbol.asyncIterator]();
    let ahead: Promise<IteratorResult<SubscribeResponse>> | undefined;
    let before = startCursor;
    const emit = function* (res: SubscribeResponse) {
      yield res;
      if (random() < rates.duplicate) {
        stats.duplicated += 1;
        yield res;
      }
    };
    try {
      for (;;) {
        const next = ahead ?? iterator.next();
        ahead = undefined;
        const result = await next;
        if (result.done) return;
        const res = result.value;
        const event = eventOf(res);
        if (res.kind.case === "caughtUp") record(res.kind.value.cursor);
        if (!event) {
          yield* emit(res);
          continue;
        }
        record(event.cursor);
        if (before !== "" && random() < rates.reorder) {
          // Only swap with a response that is already here: never hold an event back waiting.
          const peek = iterator.next();
          const ready = await Promise.race([
            peek.then((r) => ({ r })),
            new Promise<undefined>((resolve) => setTimeout(resolve, 2)),
          ]);
          const second = ready && !ready.r.done ? eventOf(ready.r.value) : undefined;
          if (second && swappable(event, second)) {
            record(second.cursor);
            stats.reordered += 1;
            yield* emit(withCursor(second, before));
            yield* emit(withCursor(event, second.cursor));
            before = second.cursor;
            continue;
          }
          ahead = peek;
        }
        yield* emit(res);
        before = event.cursor;
      }
    } finally {
      await iterator.return?.();
    }
  }

  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const call = () => inner.unary(method, signal, timeoutMs, header, input, contextValues);
      if (isMutation(method)) {
        if (random() < rates.duplicateMutation) {
          stats.duplicatedMutations += 1;
          await call();
          return call();
        }
        if (random() < rates.lostAnswer) {
          await call();
          stats.lostAnswers += 1;
          throw new ConnectError("injected fault: the answer was lost", Code.Unavailable);
        }
      }
      return call();
    },

    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      if (!isSubscribe(method)) return inner.stream(method, signal, timeoutMs, header, input, contextValues);
      const requests: MessageInitShape<I>[] = [];
      for await (const req of input) requests.push(req);
      let startCursor = "";
      const first = requests[0] as { cursor?: string } | undefined;
      if (first && typeof first.cursor === "string" && first.cursor !== "") {
        startCursor = first.cursor;
        record(first.cursor);
        if (random() < rates.replay) {
          const older = olderCursor(first.cursor);
          if (older !== undefined) {
            stats.replays += 1;
            startCursor = older;
            requests[0] = { ...first, cursor: older } as unknown as MessageInitShape<I>;
          }
        }
      }
      const response = await inner.stream(
        method,
        signal,
        timeoutMs,
        header,
        (async function* () {
          yield* requests;
        })(),
        contextValues,
      );
      const messages = faulty(response.message as AsyncIterable<SubscribeResponse>, startCursor);
      return { ...response, message: messages as AsyncIterable<never> } as StreamResponse<I, O>;
    },
  };
}

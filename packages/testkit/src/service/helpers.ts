import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type CaughtUp,
  type ErrorReason,
  type Event,
  parleyDetail,
  reasonName,
  type SubscribeResponse,
  type TypingEvent,
} from "@parley/protocol";
import { expect } from "vitest";
import { sleep, waitFor } from "../wait.js";
import type { ParleyClients } from "./clients.js";

export { sleep, waitFor };

/** What an error looks like to a Parley client: Connect code, detail reason and field. */
export interface ErrorShape {
  code: string;
  reason: string;
  field?: string;
}

/** The {@link ErrorShape} of any thrown value (code "not an error" when nothing was thrown). */
export function errorShape(err: unknown, withField: boolean): ErrorShape {
  const ce = ConnectError.from(err);
  const detail = parleyDetail(ce);
  const shape: ErrorShape = {
    code: Code[ce.code] ?? String(ce.code),
    reason: detail ? reasonName(detail.reason) : "NO_DETAIL",
  };
  if (withField) shape.field = detail?.field ?? "";
  return shape;
}

function expectedShape(code: Code, reason: ErrorReason, field: string | undefined): ErrorShape {
  const shape: ErrorShape = { code: Code[code] ?? String(code), reason: reasonName(reason) };
  if (field !== undefined) shape.field = field;
  return shape;
}

/**
 * Awaits `call` and asserts it fails with Connect `code` AND a ParleyErrorDetail
 * with `reason` (and `field`, when given). Returns the error.
 */
export async function expectParleyError(
  call: Promise<unknown> | (() => Promise<unknown>),
  code: Code,
  reason: ErrorReason,
  field?: string,
): Promise<ConnectError> {
  let result: unknown;
  try {
    result = await (typeof call === "function" ? call() : call);
  } catch (err) {
    const ce = ConnectError.from(err);
    expect(errorShape(ce, field !== undefined), `error: ${ce.message}`).toEqual(
      expectedShape(code, reason, field),
    );
    return ce;
  }
  expect.fail(
    `expected ${Code[code]} / ${reasonName(reason)} but the call succeeded with ${safeJson(result)}`,
  );
}

/**
 * Reads a server stream until it fails and asserts the failure has Connect `code`
 * and `reason`. Fails if the stream ends cleanly or nothing happens within `timeoutMs`.
 */
export async function expectStreamError(
  open: (signal: AbortSignal) => AsyncIterable<unknown>,
  code: Code,
  reason: ErrorReason,
  timeoutMs = 10_000,
): Promise<{ error: ConnectError; received: unknown[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("timeout")), timeoutMs);
  const received: unknown[] = [];
  try {
    for await (const item of open(controller.signal)) received.push(item);
  } catch (err) {
    const ce = ConnectError.from(err);
    if (controller.signal.aborted) {
      expect.fail(
        `stream did not fail within ${timeoutMs} ms (expected ${Code[code]} / ${reasonName(reason)}); got ${received.length} items`,
      );
    }
    expect(errorShape(ce, false), `stream error: ${ce.message}`).toEqual(
      expectedShape(code, reason, undefined),
    );
    return { error: ce, received };
  } finally {
    clearTimeout(timer);
  }
  expect.fail(
    `stream ended cleanly after ${received.length} items; expected ${Code[code]} / ${reasonName(reason)}`,
  );
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)).slice(0, 300);
  } catch {
    return String(value);
  }
}

/** A protobuf Timestamp as integer nanoseconds, for exact ordering. */
export function tsNanos(ts: Timestamp | undefined): bigint {
  if (!ts) return -1n;
  return ts.seconds * 1_000_000_000n + BigInt(ts.nanos);
}

/**
 * Runs a server stream in the background and records what arrives. Close it with
 * {@link StreamCollector.close}; an error other than our own abort is kept in `error`.
 */
export class StreamCollector<T> {
  /** Everything received, in order. */
  readonly items: T[] = [];
  /** The error the stream ended with (not set for our own close). */
  error: ConnectError | undefined;
  /** True once the stream has ended for any reason. */
  ended = false;
  private readonly controller = new AbortController();
  private readonly done: Promise<void>;
  private closing = false;
  private readonly waiters = new Set<() => void>();

  constructor(open: (signal: AbortSignal) => AsyncIterable<T>) {
    this.done = (async () => {
      try {
        for await (const item of open(this.controller.signal)) {
          this.items.push(item);
          this.notify();
        }
      } catch (err) {
        if (!this.closing) this.error = ConnectError.from(err);
      } finally {
        this.ended = true;
        this.notify();
      }
    })();
  }

  private notify(): void {
    for (const w of this.waiters) w();
  }

  /**
   * Resolves with the first truthy result of `check` (run on every arrival), or
   * rejects after `timeoutMs`, or when the stream ends or fails first.
   */
  until<R>(check: () => R | undefined | false, timeoutMs: number, what: string): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (fn: () => void) => {
        this.waiters.delete(test);
        if (timer) clearTimeout(timer);
        fn();
      };
      const test = () => {
        let value: R | undefined | false;
        try {
          value = check();
        } catch (err) {
          finish(() => reject(err));
          return;
        }
        if (value) {
          const v = value;
          finish(() => resolve(v));
        } else if (this.ended) {
          const why = this.error ? `failed: [${Code[this.error.code]}] ${this.error.message}` : "ended";
          finish(() => reject(new Error(`stream ${why} while waiting for ${what} (${this.describe()})`)));
        }
      };
      timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.describe()})`)),
          ),
        timeoutMs,
      );
      this.waiters.add(test);
      test();
    });
  }

  /** A short summary for failure messages. */
  describe(): string {
    return `${this.items.length} items received`;
  }

  /** Waits until the stream ends by itself; resolves with its error, if any. */
  async waitForEnd(timeoutMs = 10_000): Promise<ConnectError | undefined> {
    await waitFor(() => this.ended, timeoutMs, "the stream to end");
    return this.error;
  }

  /** Aborts the stream and waits for the background reader to finish. */
  async close(): Promise<void> {
    this.closing = !this.ended;
    this.controller.abort();
    await this.done;
  }
}

/** Options for {@link EventCollector}. */
export interface EventCollectorOptions {
  /** Cursor to resume from; empty or undefined: from now on. */
  cursor?: string;
  /** Device id sent with Subscribe. */
  deviceId?: string;
}

/**
 * Runs `SyncService.Subscribe` for one user/device in the background and collects
 * events, caught-up markers and typing events (heartbeats are ignored).
 */
export class EventCollector extends StreamCollector<SubscribeResponse> {
  /** Durable events in arrival order. */
  readonly events: Event[];
  /** CaughtUp markers in arrival order. */
  readonly caughtUps: CaughtUp[];
  /** Typing events in arrival order. */
  readonly typing: TypingEvent[];
  /** Number of events that had arrived when each CaughtUp arrived (parallel to `caughtUps`). */
  readonly eventsBeforeCaughtUp: number[];

  constructor(clients: ParleyClients, options: EventCollectorOptions = {}) {
    const events: Event[] = [];
    const caughtUps: CaughtUp[] = [];
    const typing: TypingEvent[] = [];
    const before: number[] = [];
    super((signal) => {
      const stream = clients.sync.subscribe(
        { cursor: options.cursor ?? "", deviceId: options.deviceId ?? "" },
        { signal },
      );
      return (async function* () {
        for await (const res of stream) {
          switch (res.kind.case) {
            case "event":
              events.push(res.kind.value);
              break;
            case "caughtUp":
              before.push(events.length);
              caughtUps.push(res.kind.value);
              break;
            case "typing":
              typing.push(res.kind.value);
              break;
            default:
              continue;
          }
          yield res;
        }
      })();
    });
    this.events = events;
    this.caughtUps = caughtUps;
    this.typing = typing;
    this.eventsBeforeCaughtUp = before;
  }

  override describe(): string {
    const kinds = this.events.map((e) => e.payload.case ?? "?");
    const tail = kinds.slice(-8).join(",");
    return `${this.events.length} events [..${tail}], ${this.caughtUps.length} caught-up, ${this.typing.length} typing`;
  }

  /** Waits for the `n`-th CaughtUp marker (1-based) and returns it. */
  waitForCaughtUp(n = 1, timeoutMs = 10_000): Promise<CaughtUp> {
    return this.until(() => this.caughtUps[n - 1], timeoutMs, `caught-up marker #${n}`);
  }

  /** Waits until at least `n` events have arrived; returns all events so far. */
  async waitForEvents(n: number, timeoutMs = 10_000): Promise<Event[]> {
    await this.until(() => this.events.length >= n, timeoutMs, `${n} events`);
    return this.events;
  }

  /** Waits for the first event (at index >= `from`) matching `pred`; returns it. */
  waitForEvent(
    pred: (e: Event) => boolean,
    timeoutMs = 10_000,
    what = "a matching event",
    from = 0,
  ): Promise<Event> {
    return this.until(() => this.events.slice(from).find(pred), timeoutMs, what);
  }

  /** Waits for a typing event matching `pred`. */
  waitForTyping(pred: (t: TypingEvent) => boolean, timeoutMs = 10_000): Promise<TypingEvent> {
    return this.until(() => this.typing.find(pred), timeoutMs, "a typing event");
  }

  /** The cursor of the newest event or CaughtUp marker, whichever came last. */
  get lastCursor(): string {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const item = this.items[i];
      if (item?.kind.case === "event") return item.kind.value.cursor;
      if (item?.kind.case === "caughtUp") return item.kind.value.cursor;
    }
    return "";
  }
}

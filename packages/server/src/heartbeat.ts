/** An item of a {@link HeartbeatWheel}; the wheel keeps its slot in it (-1: not beating). */
export interface Beating {
  heartbeatSlot: number;
}

/** The shared heartbeat of a service's live streams: see {@link createHeartbeatWheel}. */
export interface HeartbeatWheel<T extends Beating> {
  /** Beats `item` about every period from now on (the first beat at most one period from now). */
  add(item: T): void;
  /** Stops beating `item`. */
  delete(item: T): void;
  /** Items beating now. */
  readonly size: number;
  /** The items beating now. */
  values(): IterableIterator<T>;
}

/**
 * One timer for all live streams instead of one `setInterval` each: the items are
 * spread over `slots` sets and every `periodMs / slots` one set is beaten, so each
 * item is beaten once a period and the work comes in small batches rather than
 * all at once. The timer runs (unref'd) only while there are items.
 */
export function createHeartbeatWheel<T extends Beating>(
  periodMs: number,
  beat: (item: T) => void,
  slots = 10,
): HeartbeatWheel<T> {
  const wheel: Set<T>[] = Array.from({ length: slots }, () => new Set<T>());
  let size = 0;
  let cursor = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  const tick = () => {
    const due = wheel[cursor] as Set<T>;
    cursor = (cursor + 1) % slots;
    for (const item of due) beat(item);
  };
  return {
    add(item) {
      if (item.heartbeatSlot >= 0) return;
      // The slot the timer reaches last: beaten a period (within one tick) from now.
      const slot = (cursor + slots - 1) % slots;
      (wheel[slot] as Set<T>).add(item);
      item.heartbeatSlot = slot;
      size++;
      if (!timer) {
        timer = setInterval(tick, periodMs / slots);
        timer.unref?.();
      }
    },
    delete(item) {
      const slot = item.heartbeatSlot;
      if (slot < 0) return;
      item.heartbeatSlot = -1;
      (wheel[slot] as Set<T>).delete(item);
      size--;
      if (size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
      }
    },
    get size() {
      return size;
    },
    *values() {
      for (const set of wheel) yield* set;
    },
  };
}

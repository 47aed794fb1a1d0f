import type { UserEvent } from "@parley/history";
import { describe, expect, it } from "vitest";
import { createHub } from "./hub.js";

function event(position: number): UserEvent {
  return { position, eventId: `e${position}`, payload: new Uint8Array(), timeMs: 0 };
}

/** A listener that records the positions it was given. */
function device() {
  const got: number[] = [];
  return { got, listener: (events: UserEvent[]) => got.push(...events.map((e) => e.position)) };
}

describe("hub", () => {
  it("pushes a user's events to each of the user's live devices until each unsubscribes", () => {
    const hub = createHub();
    const [phone, laptop, tablet, other] = [device(), device(), device(), device()];
    const offPhone = hub.subscribe("alice", phone.listener);
    hub.publish("alice", [event(1)]);
    const offLaptop = hub.subscribe("alice", laptop.listener);
    const offTablet = hub.subscribe("alice", tablet.listener);
    hub.subscribe("bob", other.listener);
    hub.publish("alice", [event(2)]);
    expect(hub.size).toBe(4);
    offPhone();
    offPhone(); // a second call changes nothing
    hub.publish("alice", [event(3)]);
    offTablet();
    hub.publish("alice", [event(4)]);
    offLaptop();
    hub.publish("alice", [event(5)]);
    expect(phone.got).toEqual([1, 2]);
    expect(laptop.got).toEqual([2, 3, 4]);
    expect(tablet.got).toEqual([2, 3]);
    expect(other.got).toEqual([]);
    expect(hub.size).toBe(1);
    expect([...hub.users()]).toEqual(["bob"]);
  });

  it("serves a user again after the last device left", () => {
    const hub = createHub();
    const first = device();
    const second = device();
    hub.subscribe("alice", first.listener)();
    const off = hub.subscribe("alice", second.listener);
    hub.publish("alice", [event(1)]);
    off();
    expect(first.got).toEqual([]);
    expect(second.got).toEqual([1]);
    expect(hub.size).toBe(0);
    expect([...hub.users()]).toEqual([]);
  });
});

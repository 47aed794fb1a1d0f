/**
 * The glue between the SDK and React. The SDK keeps the state (in memory, backed
 * by IndexedDB) and announces every change as an event; components read it with
 * the SDK's synchronous getters and re-render when one of their events fires. The
 * same code runs in every tab: follower tabs get the same events from the leader.
 */
import { createParleyWebClient } from "@parley/client-web";
import type { Conversation } from "@parley/protocol";
import { ConversationKind } from "@parley/protocol";
import { useEffect, useReducer, useState } from "react";
import { tokenProvider } from "./session";

/** The SDK client (the type `@parley/client` calls `ParleyClient`). */
export type WebClient = ReturnType<typeof createParleyWebClient>;
/** A message as the SDK shows it: the server's message with my pending changes, and its status. */
export type LocalMessage = ReturnType<WebClient["messages"]>[number];
/** `idle`, `connecting`, `live`, `offline`, `resyncing` or `closed`. */
export type ConnectionState = WebClient["state"];
type ClientEvent = Parameters<WebClient["on"]>[0];

/**
 * Creates the user's client for this origin and returns it once its IndexedDB
 * cache is loaded (undefined until then). Closed when the component unmounts.
 */
export function useWebClient(userId: string): WebClient | undefined {
  const [client, setClient] = useState<WebClient>();
  useEffect(() => {
    const created = createParleyWebClient({
      baseUrl: window.location.origin,
      userId,
      token: tokenProvider(userId),
      // Reconnect quickly after the network comes back; the default waits up to 30 s.
      reconnect: { initialDelayMs: 200, maxDelayMs: 5_000 },
    });
    let active = true;
    created
      .ready()
      .then(() => active && setClient(created))
      .catch((err: unknown) => console.error("unable to open the chat cache", err));
    return () => {
      active = false;
      setClient(undefined);
      void created.close();
    };
  }, [userId]);
  return client;
}

/** Re-renders the calling component whenever the client emits one of `events`. */
export function useClientEvents(client: WebClient, events: readonly ClientEvent[]): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  const key = events.join(",");
  useEffect(() => {
    const offs = key.split(",").map((event) => client.on(event as ClientEvent, bump));
    return () => {
      for (const off of offs) off();
    };
  }, [client, key]);
}

/** Who of `userIds` is online now, kept current by the SDK's presence watch. */
export function usePresence(client: WebClient, userIds: readonly string[]): ReadonlyMap<string, boolean> {
  const [online, setOnline] = useState<ReadonlyMap<string, boolean>>(new Map());
  const key = [...new Set(userIds)].sort().join(",");
  useEffect(() => {
    if (key === "") return;
    return client.watchPresence(key.split(","), (presence) =>
      setOnline((prev) => new Map(prev).set(presence.userId, presence.online)),
    );
  }, [client, key]);
  return online;
}

/** True while the page is visible (messages shown while hidden are not marked read). */
export function usePageVisible(): boolean {
  const [visible, setVisible] = useState(() => document.visibilityState === "visible");
  useEffect(() => {
    const update = () => setVisible(document.visibilityState === "visible");
    document.addEventListener("visibilitychange", update);
    return () => document.removeEventListener("visibilitychange", update);
  }, []);
  return visible;
}

/** The other member of a direct conversation. */
export function directPeer(conversation: Conversation, me: string): string | undefined {
  if (conversation.kind !== ConversationKind.DIRECT) return undefined;
  return conversation.members.find((m) => m.userId !== me)?.userId ?? me;
}

/** A group's title, or the peer's user id for a direct conversation. */
export function conversationTitle(conversation: Conversation, me: string): string {
  return directPeer(conversation, me) ?? (conversation.title || "Untitled group");
}

/** A protobuf timestamp in ms since the epoch (0 when unset). */
export function timestampMs(ts: { seconds: bigint; nanos: number } | undefined): number {
  return ts ? Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000) : 0;
}

/** "14:05" today, "12 Mar 14:05" on other days. */
export function formatTime(ms: number): string {
  if (ms === 0) return "";
  const date = new Date(ms);
  const time = date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString(undefined, { day: "numeric", month: "short" })} ${time}`;
}

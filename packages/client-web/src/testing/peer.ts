/**
 * A Node-side user for the Chromium tests: plain Connect RPCs (no SDK), so what
 * it sees is what the server holds. Internal: not exported from the package.
 */
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import {
  AuthService,
  ConversationService,
  type Message,
  MessageService,
  SyncService,
  ulid,
} from "@parley/protocol";

/** Messages a peer's sync stream delivered, in arrival order. */
export interface PeerStream {
  /** Every MessageCreated event received so far. */
  readonly created: Message[];
  /** True once the server said the stored events are all sent. */
  readonly caughtUp: boolean;
  /** Ends the stream. */
  close(): Promise<void>;
}

/** A user driven from Node. */
export interface Peer {
  readonly userId: string;
  readonly token: string;
  readonly conversations: Client<typeof ConversationService>;
  readonly messages: Client<typeof MessageService>;
  /** The id of the direct conversation with `userId` (created on first use). */
  direct(userId: string): Promise<string>;
  /** Sends `text` and resolves with the stored message. */
  send(conversationId: string, text: string): Promise<Message>;
  /** Every message of the conversation on the server, ascending (up to 200). */
  history(conversationId: string): Promise<Message[]>;
  /** Opens a sync stream from now on. */
  subscribe(): PeerStream;
}

/** Signs `userId` in with DevLogin and returns a peer on `baseUrl`. */
export async function createPeer(baseUrl: string, userId: string): Promise<Peer> {
  const anonymous = createConnectTransport({ baseUrl, useBinaryFormat: true });
  const { token } = await createClient(AuthService, anonymous).devLogin({ userId });
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors: [auth] });
  const conversations = createClient(ConversationService, transport);
  const messages = createClient(MessageService, transport);
  const sync = createClient(SyncService, transport);
  return {
    userId,
    token,
    conversations,
    messages,
    async direct(peerUserId) {
      const { conversation } = await conversations.createDirect({ peerUserId });
      if (!conversation) throw new Error("unable to create a direct conversation; the answer had none");
      return conversation.conversationId;
    },
    async send(conversationId, text) {
      const { message } = await messages.sendMessage({ conversationId, clientMsgId: ulid(), text });
      if (!message) throw new Error("unable to send; the answer had no message");
      return message;
    },
    async history(conversationId) {
      return (
        await messages.getHistory({ conversationId, anchor: { case: "afterSeq", value: 0 }, limit: 200 })
      ).messages;
    },
    subscribe() {
      const abort = new AbortController();
      const created: Message[] = [];
      let caughtUp = false;
      const done = (async () => {
        for await (const res of sync.subscribe({ deviceId: `peer-${userId}` }, { signal: abort.signal })) {
          if (res.kind.case === "caughtUp") caughtUp = true;
          if (res.kind.case === "event" && res.kind.value.payload.case === "messageCreated") {
            const message = res.kind.value.payload.value.message;
            if (message) created.push(message);
          }
        }
      })().catch(() => {});
      return {
        created,
        get caughtUp() {
          return caughtUp;
        },
        async close() {
          abort.abort();
          await done;
        },
      };
    },
  };
}

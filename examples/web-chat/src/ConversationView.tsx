import { useEffect, useState } from "react";
import { Composer, type ComposerMode } from "./Composer";
import { MessageList } from "./MessageList";
import {
  conversationTitle,
  directPeer,
  useClientEvents,
  usePageVisible,
  usePresence,
  type WebClient,
} from "./parley";

interface ConversationViewProps {
  client: WebClient;
  conversationId: string;
}

/** One open conversation: header, messages, who is typing, and the composer. */
export function ConversationView({ client, conversationId }: ConversationViewProps) {
  useClientEvents(client, ["conversation", "typing", "resync"]);
  const [mode, setMode] = useState<ComposerMode>({ kind: "new" });
  const conversation = client.conversation(conversationId);
  const peer = conversation ? directPeer(conversation, client.userId) : undefined;
  const online = usePresence(client, peer ? [peer] : []);
  const visible = usePageVisible();

  // What is on screen counts as read; the SDK shows it at once and sends it through the outbox.
  const unread = conversation?.unreadCount ?? 0;
  useEffect(() => {
    if (unread > 0 && visible) {
      client.markRead(conversationId).catch((err: unknown) => console.warn("unable to mark read", err));
    }
  }, [client, conversationId, unread, visible]);

  if (!conversation) return null;
  const typing = client.typing(conversationId);
  return (
    <section className="conversation" data-testid="conversation" data-conversation-id={conversationId}>
      <header className="conversation-header">
        <h2 data-testid="conversation-header-title">{conversationTitle(conversation, client.userId)}</h2>
        <span className="muted small" data-testid="conversation-subtitle">
          {peer !== undefined
            ? online.get(peer)
              ? "online"
              : "offline"
            : conversation.members.map((m) => m.userId).join(", ")}
        </span>
      </header>
      <MessageList
        client={client}
        conversation={conversation}
        onReply={(message) => setMode({ kind: "reply", message })}
        onEdit={(message) => setMode({ kind: "edit", message })}
      />
      <div className="typing" data-testid="typing-indicator" aria-live="polite">
        {typing.length === 1 && `${typing[0]} is typing…`}
        {typing.length > 1 && `${typing.join(", ")} are typing…`}
      </div>
      <Composer client={client} conversationId={conversationId} mode={mode} onModeChange={setMode} />
    </section>
  );
}

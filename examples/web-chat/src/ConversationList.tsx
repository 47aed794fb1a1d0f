import type { Conversation } from "@parley/protocol";
import {
  conversationTitle,
  directPeer,
  formatTime,
  timestampMs,
  useClientEvents,
  usePresence,
  type WebClient,
} from "./parley";

interface ConversationListProps {
  client: WebClient;
  openId: string | undefined;
  onSelect: (conversationId: string) => void;
}

/** The user's conversations, newest activity first, with unread counts, last message and presence. */
export function ConversationList({ client, openId, onSelect }: ConversationListProps) {
  useClientEvents(client, ["conversation", "conversationRemoved", "resync"]);
  const conversations = client.conversations();
  const peers = conversations.map((c) => directPeer(c, client.userId)).filter((p) => p !== undefined);
  const online = usePresence(client, peers);

  if (conversations.length === 0) {
    return <p className="muted sidebar-empty">No conversations yet.</p>;
  }
  return (
    <ul className="conversation-list" data-testid="conversation-list">
      {conversations.map((conversation) => (
        <ConversationItem
          key={conversation.conversationId}
          conversation={conversation}
          me={client.userId}
          online={online}
          open={conversation.conversationId === openId}
          onSelect={onSelect}
        />
      ))}
    </ul>
  );
}

interface ConversationItemProps {
  conversation: Conversation;
  me: string;
  online: ReadonlyMap<string, boolean>;
  open: boolean;
  onSelect: (conversationId: string) => void;
}

function ConversationItem({ conversation, me, online, open, onSelect }: ConversationItemProps) {
  const title = conversationTitle(conversation, me);
  const peer = directPeer(conversation, me);
  const last = conversation.lastMessage;
  let preview = "No messages yet";
  if (last) {
    const text = last.deletedAt ? "message deleted" : last.text || "attachment";
    preview = `${last.senderId === me ? "You" : last.senderId}: ${text}`;
  }
  return (
    <li>
      <button
        type="button"
        className={`conversation-item${open ? " open" : ""}`}
        data-testid="conversation-item"
        data-conversation-id={conversation.conversationId}
        data-title={title}
        onClick={() => onSelect(conversation.conversationId)}
      >
        <span className="avatar">
          {title.slice(0, 1).toUpperCase()}
          {peer !== undefined && (
            <span
              className={`presence-dot${online.get(peer) ? " online" : ""}`}
              data-testid="presence-dot"
              data-online={String(online.get(peer) ?? false)}
              title={online.get(peer) ? "online" : "offline"}
            />
          )}
        </span>
        <span className="conversation-text">
          <span className="conversation-title" data-testid="conversation-title">
            {title}
            {peer === undefined && <span className="muted"> · {conversation.members.length} members</span>}
          </span>
          <span className="conversation-last" data-testid="conversation-last">
            {preview}
          </span>
        </span>
        <span className="conversation-side">
          <span className="muted small">{formatTime(timestampMs(last?.createdAt))}</span>
          {conversation.unreadCount > 0 && (
            <span className="unread" data-testid="unread-count">
              {conversation.unreadCount}
            </span>
          )}
        </span>
      </button>
    </li>
  );
}

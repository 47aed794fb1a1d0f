import { useState } from "react";
import { formatTime, type LocalMessage, timestampMs, type WebClient } from "./parley";

/** The reactions offered by the picker. */
export const EMOJIS = ["👍", "❤️", "😂", "🎉", "😮"];

const STATUS: Record<LocalMessage["status"], { mark: string; title: string }> = {
  pending: { mark: "◷", title: "waiting to be sent" },
  sent: { mark: "✓", title: "sent" },
  delivered: { mark: "✓✓", title: "delivered" },
  read: { mark: "✓✓", title: "read" },
  failed: { mark: "!", title: "not sent" },
};

interface MessageItemProps {
  client: WebClient;
  local: LocalMessage;
  isGroup: boolean;
  /** The message this one replies to, when it is loaded. */
  replyTo: LocalMessage | undefined;
  onReply: (message: LocalMessage) => void;
  onEdit: (message: LocalMessage) => void;
}

/** One message: text, reply quote, reactions, status marks on my own, and actions on hover. */
export function MessageItem({ client, local, isGroup, replyTo, onReply, onEdit }: MessageItemProps) {
  const { message, status } = local;
  const me = client.userId;
  const mine = message.senderId === me;
  const deleted = message.deletedAt !== undefined;
  const [picking, setPicking] = useState(false);
  const report = (err: unknown) => console.warn("unable to update the message", err);

  const toggleReaction = (emoji: string) => {
    const reacted = message.reactions.some((r) => r.emoji === emoji && r.userIds.includes(me));
    (reacted ? client.unreact(message, emoji) : client.react(message, emoji)).catch(report);
    setPicking(false);
  };

  return (
    <div
      className={`message${mine ? " mine" : ""}`}
      data-testid="message"
      data-seq={message.seq}
      data-sender={message.senderId}
      data-status={status}
    >
      {!mine && isGroup && <div className="sender">{message.senderId}</div>}
      <div className="bubble">
        {message.replyToSeq > 0 && (
          <div className="reply-quote" data-testid="reply-quote">
            {replyTo
              ? `${replyTo.message.senderId}: ${replyTo.message.deletedAt ? "message deleted" : replyTo.message.text}`
              : `reply to message #${message.replyToSeq}`}
          </div>
        )}
        {deleted ? (
          <span className="deleted" data-testid="message-deleted">
            This message was deleted
          </span>
        ) : (
          <span className="text" data-testid="message-text">
            {message.text}
          </span>
        )}
        <span className="meta">
          {message.editedAt && !deleted && (
            <span className="edited" data-testid="message-edited">
              edited
            </span>
          )}
          <span className="time">{formatTime(timestampMs(message.createdAt))}</span>
          {mine && (
            <span
              className={`status status-${status}`}
              data-testid="message-status"
              data-status={status}
              title={STATUS[status].title}
            >
              {STATUS[status].mark}
            </span>
          )}
        </span>
      </div>
      {message.reactions.length > 0 && (
        <div className="reactions">
          {message.reactions.map((reaction) => (
            <button
              type="button"
              key={reaction.emoji}
              className={`reaction${reaction.userIds.includes(me) ? " reacted" : ""}`}
              data-testid="reaction"
              data-emoji={reaction.emoji}
              title={reaction.userIds.join(", ")}
              onClick={() => toggleReaction(reaction.emoji)}
            >
              {reaction.emoji} <span data-testid="reaction-count">{reaction.userIds.length}</span>
            </button>
          ))}
        </div>
      )}
      {status === "failed" && (
        <div className="failed" data-testid="message-failed">
          Not sent ({local.failure?.reason ?? "error"}).{" "}
          <button
            type="button"
            className="link"
            onClick={() => client.retry(message.clientMsgId).catch(report)}
          >
            Retry
          </button>{" "}
          <button
            type="button"
            className="link"
            onClick={() => client.discard(message.clientMsgId).catch(report)}
          >
            Discard
          </button>
        </div>
      )}
      {!deleted && status !== "failed" && (
        <div className="actions">
          {message.seq > 0 && (
            <button type="button" data-testid="action-reply" title="Reply" onClick={() => onReply(local)}>
              ↩
            </button>
          )}
          <button type="button" data-testid="action-react" title="React" onClick={() => setPicking(!picking)}>
            ☺
          </button>
          {mine && (
            <>
              <button type="button" data-testid="action-edit" title="Edit" onClick={() => onEdit(local)}>
                ✎
              </button>
              <button
                type="button"
                data-testid="action-delete"
                title="Delete"
                onClick={() => client.delete(message).catch(report)}
              >
                🗑
              </button>
            </>
          )}
        </div>
      )}
      {picking && (
        <div className="picker" data-testid="reaction-picker">
          {EMOJIS.map((emoji) => (
            <button
              type="button"
              key={emoji}
              data-testid="pick-emoji"
              data-emoji={emoji}
              onClick={() => toggleReaction(emoji)}
            >
              {emoji}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}

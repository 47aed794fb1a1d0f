import type { Conversation } from "@parley/protocol";
import { ConversationKind } from "@parley/protocol";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { MessageItem } from "./MessageItem";
import { type LocalMessage, useClientEvents, type WebClient } from "./parley";

/** How many older messages one scroll to the top loads. */
const PAGE_SIZE = 30;

interface MessageListProps {
  client: WebClient;
  conversation: Conversation;
  onReply: (message: LocalMessage) => void;
  onEdit: (message: LocalMessage) => void;
}

/**
 * The conversation's messages as the SDK shows them (`client.messages(id)`: the
 * cached window, then my unsent messages). Scrolling to the top loads older
 * pages with `client.history()`, which extends that window.
 */
export function MessageList({ client, conversation, onReply, onEdit }: MessageListProps) {
  useClientEvents(client, ["message", "outbox", "receipt", "resync"]);
  const conversationId = conversation.conversationId;
  const messages = client.messages(conversationId);
  const oldestSeq = messages.find((m) => m.message.seq > 0)?.message.seq;
  const hasMoreBefore = oldestSeq !== undefined ? oldestSeq > 1 : conversation.lastSeq > 0;

  const scroller = useRef<HTMLDivElement>(null);
  const loadingRef = useRef(false);
  const [loading, setLoading] = useState(false);
  const [loadError, setLoadError] = useState("");
  /** True while the user is at the bottom: new messages then keep the view at the bottom. */
  const atBottom = useRef(true);
  /** While an older page loads: the distance from the bottom to keep, so the view does not jump. */
  const keepFromBottom = useRef<number | undefined>(undefined);

  const loadOlder = useCallback(async () => {
    const el = scroller.current;
    if (loadingRef.current || !el) return;
    loadingRef.current = true;
    keepFromBottom.current = el.scrollHeight - el.scrollTop;
    setLoading(true);
    setLoadError("");
    try {
      await client.history(conversationId, { ...(oldestSeq ? { before: oldestSeq } : {}), limit: PAGE_SIZE });
    } catch (err) {
      setLoadError(err instanceof Error ? err.message : String(err));
    } finally {
      loadingRef.current = false;
      setLoading(false);
    }
  }, [client, conversationId, oldestSeq]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (keepFromBottom.current !== undefined) {
      el.scrollTop = el.scrollHeight - keepFromBottom.current;
      if (!loading) keepFromBottom.current = undefined;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  });

  // When the messages do not fill the view yet, there is nothing to scroll: load more right away.
  useEffect(() => {
    const el = scroller.current;
    if (el && hasMoreBefore && !loading && !loadError && el.scrollHeight <= el.clientHeight) void loadOlder();
  }, [hasMoreBefore, loading, loadError, loadOlder]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    if (el.scrollTop < 80 && hasMoreBefore && !loadError) void loadOlder();
  };

  const bySeq = new Map(messages.filter((m) => m.message.seq > 0).map((m) => [m.message.seq, m]));
  const isGroup = conversation.kind === ConversationKind.GROUP;
  return (
    <div className="messages" ref={scroller} onScroll={onScroll} data-testid="message-list">
      <div className="history-edge" data-testid="history-edge" data-more={String(hasMoreBefore)}>
        {loading && "Loading earlier messages…"}
        {!loading && loadError && (
          <>
            Could not load earlier messages.{" "}
            <button type="button" className="link" onClick={() => void loadOlder()}>
              Try again
            </button>
          </>
        )}
        {!loading && !loadError && !hasMoreBefore && "This is the beginning of the conversation."}
      </div>
      {messages.map((local) => (
        <MessageItem
          key={local.message.clientMsgId || `seq-${local.message.seq}`}
          client={client}
          local={local}
          isGroup={isGroup}
          replyTo={local.message.replyToSeq ? bySeq.get(local.message.replyToSeq) : undefined}
          onReply={onReply}
          onEdit={onEdit}
        />
      ))}
    </div>
  );
}

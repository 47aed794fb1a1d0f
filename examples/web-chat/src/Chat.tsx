import { deleteIndexedDbClientStore, parleyDatabaseName } from "@parley/client-web";
import { useCallback, useEffect, useState } from "react";
import { ConnectionBanner } from "./ConnectionBanner";
import { ConversationList } from "./ConversationList";
import { ConversationView } from "./ConversationView";
import { NewConversation } from "./NewConversation";
import { useClientEvents, useWebClient, type WebClient } from "./parley";

/** The open conversation lives in the URL (`#/c/<id>`), so a reload keeps it open. */
function conversationFromHash(): string | undefined {
  const match = /^#\/c\/(.+)$/.exec(window.location.hash);
  return match?.[1] ? decodeURIComponent(match[1]) : undefined;
}

function useOpenConversation(): [string | undefined, (id: string) => void] {
  const [open, setOpen] = useState(conversationFromHash);
  useEffect(() => {
    const update = () => setOpen(conversationFromHash());
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  const select = useCallback((id: string) => {
    window.location.hash = `#/c/${encodeURIComponent(id)}`;
  }, []);
  return [open, select];
}

interface ChatProps {
  userId: string;
  onSignedOut: () => void;
}

/** The signed-in app: waits for the SDK's cache, then shows it. */
export function Chat({ userId, onSignedOut }: ChatProps) {
  const client = useWebClient(userId);
  if (!client) {
    return (
      <div className="loading" data-testid="loading">
        Loading…
      </div>
    );
  }
  return <ChatScreen client={client} onSignedOut={onSignedOut} />;
}

function ChatScreen({ client, onSignedOut }: { client: WebClient; onSignedOut: () => void }) {
  // The header shows the connection state and which tab holds the connection; the open conversation may arrive later.
  useClientEvents(client, ["state", "resync", "conversation", "conversationRemoved"]);
  const [openId, select] = useOpenConversation();
  const [error, setError] = useState("");
  useEffect(() => client.on("error", ({ error }) => setError(error.message)), [client]);

  const signOut = async () => {
    // Other tabs see the session go (a storage event) and close their clients too.
    onSignedOut();
    await client.close();
    await deleteIndexedDbClientStore(parleyDatabaseName(client.userId, window.location.origin)).catch(
      (err: unknown) => console.warn("unable to delete the chat cache", err),
    );
  };

  return (
    <div className="app" data-testid="app" data-user={client.userId} data-leader={String(client.isLeader)}>
      <header className="topbar">
        <span className="brand">Parley</span>
        <span
          className={`state state-${client.state}`}
          data-testid="connection-state"
          data-state={client.state}
        >
          {client.state}
        </span>
        <span className="spacer" />
        <span
          className="muted"
          title={client.isLeader ? "this tab holds the connection" : "shares another tab's connection"}
        >
          {client.isLeader ? "leader tab" : "follower tab"}
        </span>
        <span className="me" data-testid="current-user">
          {client.userId}
        </span>
        <button type="button" className="link" data-testid="logout" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <ConnectionBanner client={client} />
      {error && (
        <div className="error-bar" data-testid="error-bar">
          {error}
          <button type="button" className="link" onClick={() => setError("")}>
            dismiss
          </button>
        </div>
      )}
      <div className="main">
        <aside className="sidebar">
          <NewConversation client={client} onCreated={select} />
          <ConversationList client={client} openId={openId} onSelect={select} />
        </aside>
        {openId && client.conversation(openId) ? (
          <ConversationView key={openId} client={client} conversationId={openId} />
        ) : (
          <section className="conversation empty" data-testid="no-conversation">
            <p className="muted">Pick a conversation, or start one on the left.</p>
          </section>
        )}
      </div>
    </div>
  );
}

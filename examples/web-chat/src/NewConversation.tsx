import { type FormEvent, useState } from "react";
import type { WebClient } from "./parley";

interface NewConversationProps {
  client: WebClient;
  onCreated: (conversationId: string) => void;
}

/** Starts a direct chat (a peer's user id) or a group (a title and member ids). Needs the network. */
export function NewConversation({ client, onCreated }: NewConversationProps) {
  const [mode, setMode] = useState<"direct" | "group">("direct");
  const [peer, setPeer] = useState("");
  const [title, setTitle] = useState("");
  const [members, setMembers] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      const conversation =
        mode === "direct"
          ? await client.createDirect(peer.trim())
          : await client.createGroup({
              title: title.trim(),
              memberIds: members
                .split(/[\s,]+/)
                .map((m) => m.trim())
                .filter((m) => m !== ""),
            });
      setPeer("");
      setTitle("");
      setMembers("");
      onCreated(conversation.conversationId);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="new-conversation" onSubmit={submit} data-testid="new-conversation">
      <div className="tabs" role="tablist">
        <button
          type="button"
          role="tab"
          aria-selected={mode === "direct"}
          data-testid="new-direct-tab"
          onClick={() => setMode("direct")}
        >
          Direct
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={mode === "group"}
          data-testid="new-group-tab"
          onClick={() => setMode("group")}
        >
          Group
        </button>
      </div>
      {mode === "direct" ? (
        <input
          data-testid="new-direct-peer"
          placeholder="user id to chat with"
          value={peer}
          onChange={(e) => setPeer(e.target.value)}
          required
        />
      ) : (
        <>
          <input
            data-testid="new-group-title"
            placeholder="group title"
            value={title}
            onChange={(e) => setTitle(e.target.value)}
            required
          />
          <input
            data-testid="new-group-members"
            placeholder="member ids, comma separated"
            value={members}
            onChange={(e) => setMembers(e.target.value)}
            required
          />
        </>
      )}
      <button type="submit" data-testid="new-conversation-submit" disabled={busy}>
        {mode === "direct" ? "Start chat" : "Create group"}
      </button>
      {error && (
        <p className="error" data-testid="new-conversation-error">
          {error}
        </p>
      )}
    </form>
  );
}

import { type FormEvent, type KeyboardEvent, useEffect, useRef, useState } from "react";
import type { LocalMessage, WebClient } from "./parley";

/** What the composer does on submit: send a new message, a reply, or save an edit. */
export type ComposerMode =
  | { kind: "new" }
  | { kind: "reply"; message: LocalMessage }
  | { kind: "edit"; message: LocalMessage };

interface ComposerProps {
  client: WebClient;
  conversationId: string;
  mode: ComposerMode;
  onModeChange: (mode: ComposerMode) => void;
}

/** The message input. Sending works offline too: the SDK queues it durably in the outbox. */
export function Composer({ client, conversationId, mode, onModeChange }: ComposerProps) {
  const [text, setText] = useState("");
  const [error, setError] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);

  // Editing starts from the message's text (set while rendering, so it is there before any keystroke).
  const [shownMode, setShownMode] = useState(mode);
  if (mode !== shownMode) {
    setShownMode(mode);
    if (mode.kind === "edit") setText(mode.message.message.text);
  }
  useEffect(() => {
    if (mode.kind !== "new") input.current?.focus();
  }, [mode]);
  // Stop my typing indicator when leaving the conversation.
  useEffect(() => () => client.setTyping(conversationId, false), [client, conversationId]);

  const change = (value: string) => {
    setText(value);
    if (mode.kind !== "edit") client.setTyping(conversationId, value.trim() !== "");
  };

  const submit = async (event?: FormEvent) => {
    event?.preventDefault();
    const body = text.trim();
    if (body === "") return;
    setText("");
    setError("");
    onModeChange({ kind: "new" });
    client.setTyping(conversationId, false);
    try {
      if (mode.kind === "edit") await client.edit(mode.message.message, body);
      else
        await client.send(conversationId, {
          text: body,
          replyToSeq: mode.kind === "reply" ? mode.message.message.seq : 0,
        });
    } catch (err) {
      // The SDK refuses bad input (e.g. too long) before queueing; give the text back.
      setText(body);
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  const keyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      void submit();
    } else if (event.key === "Escape" && mode.kind !== "new") {
      setText("");
      onModeChange({ kind: "new" });
    }
  };

  return (
    <form className="composer" onSubmit={submit} data-testid="composer">
      {mode.kind !== "new" && (
        <div className="composer-context" data-testid="composer-context">
          <span>
            {mode.kind === "reply" ? `Replying to ${mode.message.message.senderId}: ` : "Editing: "}
            <span className="muted">{mode.message.message.text}</span>
          </span>
          <button
            type="button"
            className="link"
            data-testid="composer-cancel"
            onClick={() => {
              setText("");
              onModeChange({ kind: "new" });
            }}
          >
            cancel
          </button>
        </div>
      )}
      {error && (
        <p className="error" data-testid="composer-error">
          {error}
        </p>
      )}
      <div className="composer-row">
        <textarea
          ref={input}
          data-testid="composer-input"
          rows={1}
          placeholder="Write a message"
          value={text}
          onChange={(e) => change(e.target.value)}
          onKeyDown={keyDown}
          onBlur={() => client.setTyping(conversationId, false)}
        />
        <button type="submit" data-testid="send-button" disabled={text.trim() === ""}>
          {mode.kind === "edit" ? "Save" : "Send"}
        </button>
      </div>
    </form>
  );
}

import { useClientEvents, type WebClient } from "./parley";

const LABELS: Record<string, string> = {
  offline: "You are offline.",
  connecting: "Connecting…",
  resyncing: "Catching up…",
  closed: "Disconnected.",
};

/** Shown while the client is not live, with the number of messages waiting in the outbox. */
export function ConnectionBanner({ client }: { client: WebClient }) {
  useClientEvents(client, ["state", "outbox"]);
  const label = LABELS[client.state];
  if (!label) return null;
  const pending = client
    .outbox()
    .filter((item) => item.op.kind === "send" && item.status === "pending").length;
  return (
    <div className={`banner banner-${client.state}`} data-testid="offline-banner" data-state={client.state}>
      {label}{" "}
      {pending > 0 ? (
        <>
          <strong data-testid="pending-count">{pending}</strong> {pending === 1 ? "message" : "messages"} will
          be sent when you are back online.
        </>
      ) : (
        "Messages you write will be sent when you are back online."
      )}
    </div>
  );
}

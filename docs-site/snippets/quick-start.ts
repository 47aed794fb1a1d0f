// The quick start's "SDK in your app": a browser app against `npm start`'s server,
// signing in with its dev-only login. Typechecked by `npm run typecheck`.
import { createParleyWebClient } from "@parley/client-web";

// #region app
// DEV ONLY: the embedded server's DevLogin issues a token for any user id. In
// production your own sign-in hands out tokens (see the server guide).
async function devToken(userId: string): Promise<string> {
  const res = await fetch("/parley.v1.AuthService/DevLogin", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId }),
  });
  return ((await res.json()) as { token: string }).token;
}

const client = createParleyWebClient({
  baseUrl: location.origin,
  userId: "alice",
  token: () => devToken("alice"),
});
await client.ready(); // the IndexedDB cache is loaded: draw it at once, even offline

client.on("message", ({ conversationId, message }) => {
  console.log(conversationId, message.message.senderId, message.message.text, message.status);
});

const { conversationId } = await client.createDirect("bob");
await client.send(conversationId, { text: "hello bob" }); // "pending" at once, sent when live
// #endregion app

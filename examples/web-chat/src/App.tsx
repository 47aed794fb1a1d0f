import { useEffect, useState } from "react";
import { Chat } from "./Chat";
import { Login } from "./Login";
import { clearSession, loadSession, onSessionChange, type Session, saveSession } from "./session";

/** Signed out: the login form. Signed in: the chat. Follows sign-ins and sign-outs of other tabs. */
export function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  useEffect(() => onSessionChange(setSession), []);

  if (!session) {
    return (
      <Login
        onSignedIn={(signedIn) => {
          saveSession(signedIn);
          setSession(signedIn);
        }}
      />
    );
  }
  return (
    <Chat
      key={session.userId}
      userId={session.userId}
      onSignedOut={() => {
        clearSession();
        setSession(undefined);
      }}
    />
  );
}

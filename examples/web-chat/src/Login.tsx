import { type FormEvent, useState } from "react";
import { devLogin, type Session } from "./session";

/** Dev login: any user id gets a token from the server's `AuthService.DevLogin`. */
export function Login({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [userId, setUserId] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      onSignedIn(await devLogin(userId.trim()));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <form className="login-card" onSubmit={submit} data-testid="login-form">
        <h1>Parley</h1>
        <p className="muted">Development sign-in: pick any user id.</p>
        <input
          data-testid="login-user"
          placeholder="user id, e.g. alice"
          value={userId}
          onChange={(e) => setUserId(e.target.value)}
          pattern="[A-Za-z0-9_.@\-]{1,64}"
          title="1-64 characters: letters, digits and _ . @ -"
          required
        />
        <button type="submit" data-testid="login-submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {error && (
          <p className="error" data-testid="login-error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

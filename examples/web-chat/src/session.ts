/**
 * Who is signed in: a dev-login token kept in localStorage, so every tab of the
 * browser shares the session (and the SDK's one connection for that user).
 */

/** A signed-in user and the token the server gave them. */
export interface Session {
  readonly userId: string;
  readonly token: string;
  /** When the token expires, in ms since the epoch. */
  readonly expiresAtMs: number;
}

const KEY = "parley-web-chat:session";

/** The session of this browser, if someone is signed in. */
export function loadSession(): Session | undefined {
  const raw = localStorage.getItem(KEY);
  if (!raw) return undefined;
  try {
    const session = JSON.parse(raw) as Partial<Session>;
    if (typeof session.userId === "string" && typeof session.token === "string") {
      return { userId: session.userId, token: session.token, expiresAtMs: Number(session.expiresAtMs ?? 0) };
    }
  } catch {
    // A broken entry counts as signed out.
  }
  return undefined;
}

export function saveSession(session: Session): void {
  localStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(): void {
  localStorage.removeItem(KEY);
}

/** Calls `listener` when another tab signs in or out. */
export function onSessionChange(listener: (session: Session | undefined) => void): () => void {
  const handler = (event: StorageEvent) => {
    if (event.key === KEY || event.key === null) listener(loadSession());
  };
  window.addEventListener("storage", handler);
  return () => window.removeEventListener("storage", handler);
}

interface DevLoginJson {
  token?: string;
  userId?: string;
  expiresAt?: string;
}

interface ConnectErrorJson {
  code?: string;
  message?: string;
}

/**
 * `AuthService.DevLogin` on this origin, as a plain Connect unary call in JSON
 * (`POST /parley.v1.AuthService/DevLogin`). Only servers started with
 * `PARLEY_DEV_LOGIN=true` (the default of the embedded server) answer it.
 */
export async function devLogin(userId: string): Promise<Session> {
  const res = await fetch("/parley.v1.AuthService/DevLogin", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId }),
  });
  const body = (await res.json().catch(() => ({}))) as DevLoginJson & ConnectErrorJson;
  if (!res.ok || !body.token) {
    throw new Error(`unable to sign in; ${body.message ?? body.code ?? `HTTP ${res.status}`}`);
  }
  const expiresAtMs = body.expiresAt ? Date.parse(body.expiresAt) : Date.now() + 60 * 60 * 1000;
  return { userId: body.userId ?? userId, token: body.token, expiresAtMs };
}

/**
 * The SDK's token provider: the stored token while it is valid for another
 * minute, else a new one from DevLogin (kept for the other tabs too).
 */
export function tokenProvider(userId: string): () => Promise<string> {
  return async () => {
    const session = loadSession();
    if (session?.userId === userId && session.expiresAtMs - 60_000 > Date.now()) return session.token;
    const fresh = await devLogin(userId);
    saveSession(fresh);
    return fresh.token;
  };
}

/**
 * Where the client's connection stands:
 *
 * - `idle`: not connecting (before `connect()` when `autoConnect` is false).
 * - `connecting`: opening the sync stream (and loading the first snapshot).
 * - `live`: caught up; events arrive as they happen.
 * - `offline`: the network or the server is unreachable; retrying with backoff.
 * - `resyncing`: the cursor was too old; rebuilding the cache from a snapshot.
 * - `closed`: closed by `close()`, or stopped by an error that retrying cannot fix
 *   (an invalid token, a token of another user).
 */
export type ConnectionState = "idle" | "connecting" | "live" | "offline" | "resyncing" | "closed";

/**
 * Calls every listener with `value`. A listener that throws does not stop the
 * others; its error goes to `onListenerError` (and an error thrown by that is
 * dropped). The set is copied first, so a listener may unsubscribe itself or
 * another while the call is under way. For PresenceStore implementations.
 */
export function callListeners<T>(
  listeners: Iterable<(value: T) => void> | undefined,
  value: T,
  onListenerError: (error: unknown) => void,
): void {
  if (!listeners) return;
  for (const listener of [...listeners]) {
    try {
      listener(value);
    } catch (error) {
      try {
        onListenerError(error);
      } catch {
        // The error reporter itself failed; nothing more can be done.
      }
    }
  }
}

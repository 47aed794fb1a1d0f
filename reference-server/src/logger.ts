import type { Logger } from "@parley/router";
import pino from "pino";

/** A Parley {@link Logger} writing JSON lines through pino. */
export function createPinoLogger(level: string, base: pino.Logger = pino({ level })): Logger {
  const wrap = (p: pino.Logger): Logger => ({
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
    withContext: (fields) => wrap(p.child(fields)),
  });
  return wrap(base);
}

/**
 * Where the client writes what it does. Inject your own (e.g. a pino or console
 * adapter) through `ParleyClientOptions.logger`; the default is silent.
 */
export interface ClientLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every entry. */
  withContext(fields: Record<string, unknown>): ClientLogger;
}

/** A logger that drops everything. */
export const silentLogger: ClientLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  withContext() {
    return silentLogger;
  },
};

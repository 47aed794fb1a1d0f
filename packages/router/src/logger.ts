/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/**
 * The logger Parley's packages write to. The reference server passes a pino
 * logger; libraries default to {@link silentLogger}.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  withContext(fields: LogFields): Logger;
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  withContext() {
    return silentLogger;
  },
};

import { resolve } from "node:path";

/** Which processes this server runs. Only `embedded` exists so far; `gateway`/`worker` come with cluster mode. */
export type Role = "embedded";

/** The reference server's configuration, read once from the environment. */
export interface Config {
  role: Role;
  host: string;
  port: number;
  /** Folder for the SQLite files. */
  dataDir: string;
  /** URL clients are told to use (discovery); empty means "the server you asked". */
  publicUrl: string;
  jwt:
    | { secret: string; issuer: string; audience: string }
    | { jwksUrl: string; issuer: string; audience: string };
  /** DEV ONLY token issuing; on by default in embedded mode. */
  devLogin: boolean;
  /** Events kept per user stream before older cursors must resync. */
  userEventsMax: number;
  logLevel: string;
  /** How long SIGTERM waits for in-flight requests before closing. */
  shutdownGraceMs: number;
  /** Optional folder of static files (the web chat) served at `/`. */
  staticDir: string;
}

/** A configuration problem, reported before anything starts. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

/** The dev secret used when none is configured in embedded mode. Never use it in production. */
export const DEV_JWT_SECRET = "parley-dev-secret-change-me";

/** Reads the configuration from environment variables (see the README's table). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const role = (env.PARLEY_ROLE ?? "embedded") as Role;
  if (role !== "embedded") {
    throw new ConfigError(
      `PARLEY_ROLE must be "embedded" (gateway and worker roles are not available yet), got "${role}"`,
    );
  }
  const issuer = env.PARLEY_JWT_ISSUER || "parley";
  const audience = env.PARLEY_JWT_AUDIENCE || "parley";
  const jwksUrl = env.PARLEY_JWT_JWKS_URL ?? "";
  const secret = env.PARLEY_JWT_SECRET ?? "";
  if (jwksUrl && secret) throw new ConfigError("set PARLEY_JWT_SECRET or PARLEY_JWT_JWKS_URL, not both");
  const devLogin = bool(env, "PARLEY_DEV_LOGIN", true);
  if (devLogin && jwksUrl)
    throw new ConfigError("PARLEY_DEV_LOGIN needs PARLEY_JWT_SECRET (it signs dev tokens)");
  return {
    role,
    host: env.PARLEY_HOST || "0.0.0.0",
    port: int(env, "PARLEY_PORT", 8080, 0, 65535),
    dataDir: resolve(env.PARLEY_DATA_DIR || ".parley-data"),
    publicUrl: env.PARLEY_PUBLIC_URL ?? "",
    jwt: jwksUrl ? { jwksUrl, issuer, audience } : { secret: secret || DEV_JWT_SECRET, issuer, audience },
    devLogin,
    userEventsMax: int(env, "PARLEY_USER_EVENTS_MAX", 10_000, 10, 100_000_000),
    logLevel: env.PARLEY_LOG_LEVEL || "info",
    shutdownGraceMs: int(env, "PARLEY_SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    staticDir: env.PARLEY_STATIC_DIR ?? "",
  };
}

/**
 * A running Parley deployment the whole-service suite talks to over real HTTP.
 * Every deployment (embedded, cluster) provides one of these to
 * {@link describeParleyService}.
 */
export interface ServiceUnderTest {
  /** Base URL of a server, e.g. "http://127.0.0.1:43123". */
  baseUrl: string;
  /**
   * HS256 secret, issuer and audience the server verifies; the suite mints tokens
   * itself with jose (sub = user id, name = display name).
   */
  jwt: { secret: string; issuer: string; audience: string };
  /** Max events kept per user stream; more are pruned and older cursors get RESYNC_REQUIRED. */
  maxEventsPerUser: number;
  /** Whether DevLogin is enabled. */
  devLogin: boolean;
  /**
   * Kills the server (SIGKILL when hard, SIGTERM otherwise) and starts it again on
   * the same data and URL; resolves when it is ready. Absent when the deployment cannot.
   */
  restart?: (options: { hard: boolean }) => Promise<void>;
  /** Stops the deployment and removes what it created. */
  cleanup: () => Promise<void>;
}

/**
 * What a deployment offers, known when the suite is registered: tests for
 * features it lacks are not registered at all (rather than skipped), and the
 * suite checks the running service matches.
 */
export interface ServiceFeatures {
  /** DevLogin is enabled (tests that it works) or disabled (tests DEV_LOGIN_DISABLED). */
  devLogin: boolean;
  /** The harness can restart the deployment (durability tests across kills). */
  restart: boolean;
}

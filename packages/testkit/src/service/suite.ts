import { afterAll, afterEach, beforeAll, describe } from "vitest";
import { authTests } from "./auth-tests.js";
import { SuiteContext } from "./context.js";
import { conversationTests } from "./conversation-tests.js";
import { historyTests } from "./history-tests.js";
import { messageTests } from "./message-tests.js";
import { presenceTests } from "./presence-tests.js";
import { receiptTests } from "./receipt-tests.js";
import { restartTests } from "./restart-tests.js";
import { syncTests } from "./sync-tests.js";
import type { ServiceFeatures, ServiceUnderTest } from "./types.js";

/** How long the factory may take to start a deployment. */
const START_TIMEOUT_MS = 120_000;

/**
 * Registers the whole-service conformance suite: every Parley deployment must
 * pass it. It talks only Connect RPC over real HTTP. `factory` is called once (in
 * `beforeAll`) and the service is shared by all tests, which use unique user ids;
 * `cleanup` runs in `afterAll`. `features` decides which tests are registered:
 * restart tests only where the harness can restart, and the DevLogin tests that
 * match its setting; the running service must match them.
 *
 * @example
 * ```ts
 * describeParleyService("embedded", () => spawnReferenceServer(), { devLogin: true, restart: true });
 * ```
 */
export function describeParleyService(
  name: string,
  factory: () => Promise<ServiceUnderTest>,
  features: ServiceFeatures,
): void {
  describe(`Parley service conformance: ${name}`, () => {
    const ctx = new SuiteContext();
    let service: ServiceUnderTest | undefined;

    beforeAll(async () => {
      service = await factory();
      ctx.setService(service);
      if (service.devLogin !== features.devLogin || Boolean(service.restart) !== features.restart) {
        throw new Error(
          `the service does not match the declared features ${JSON.stringify(features)} ` +
            `(devLogin: ${service.devLogin}, restart: ${Boolean(service.restart)})`,
        );
      }
    }, START_TIMEOUT_MS);

    afterEach(async () => {
      await ctx.closeAll();
    });

    afterAll(async () => {
      await ctx.closeAll();
      ctx.setService(undefined);
      await service?.cleanup();
    }, START_TIMEOUT_MS);

    authTests(ctx, features);
    conversationTests(ctx);
    messageTests(ctx);
    historyTests(ctx);
    receiptTests(ctx);
    syncTests(ctx);
    presenceTests(ctx);
    if (features.restart) restartTests(ctx);
  });
}

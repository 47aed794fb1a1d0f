/**
 * `@parley/testkit`: conformance suites every adapter of Parley's ports runs, and
 * helpers for testing code built on Parley.
 *
 * @packageDocumentation
 */

export type { GatewayOwnership } from "@parley/server";
export { withBearerToken } from "./bearer.js";
export { describeEventLog, type EventLogFeatures, type EventLogUnderTest } from "./event-log.js";
export {
  describeHistoryStore,
  type HistoryStoreFeatures,
  type HistoryStoreUnderTest,
} from "./history-store.js";
export { describePresenceStore, type PresenceStoreUnderTest } from "./presence-store.js";
export { seededRandom } from "./random.js";
export {
  clientId,
  createParleyClients,
  describeParleyService,
  EventCollector,
  type EventCollectorOptions,
  expectParleyError,
  expectStreamError,
  type MintTokenOptions,
  mintServiceToken,
  mintToken,
  type ParleyClients,
  type ServiceFeatures,
  type ServiceUnderTest,
  StreamCollector,
  SuiteContext,
  sleep,
  type TestUser,
  uniqueUserId,
  waitFor,
} from "./service/index.js";
export {
  createStaticOwnership,
  createTestServer,
  type StaticOwnership,
  type StaticOwnershipOptions,
  type TestGatewayOptions,
  type TestHttpServer,
  type TestListenOptions,
  type TestServer,
  type TestServerOptions,
} from "./test-server.js";

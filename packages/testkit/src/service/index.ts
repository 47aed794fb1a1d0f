/**
 * The whole-service conformance suite: the contract every Parley deployment
 * passes, over real HTTP.
 *
 * @packageDocumentation
 */
export {
  clientId,
  createParleyClients,
  type MintTokenOptions,
  mintServiceToken,
  mintToken,
  type ParleyClients,
  uniqueUserId,
} from "./clients.js";
export { SuiteContext, type TestUser } from "./context.js";
export {
  EventCollector,
  type EventCollectorOptions,
  expectParleyError,
  expectStreamError,
  StreamCollector,
  sleep,
  waitFor,
} from "./helpers.js";
export { describeParleyService } from "./suite.js";
export type { ServiceFeatures, ServiceUnderTest } from "./types.js";

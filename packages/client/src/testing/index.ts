/**
 * `@parley/client/testing`: conformance cases for {@link ClientStore}
 * implementations. Free of any test runner and of Node APIs, so the same cases
 * run under Vitest in Node and bundled inside a browser.
 *
 * @packageDocumentation
 */

export {
  type ClientStoreCase,
  type ClientStoreFeature,
  type ClientStoreHarness,
  clientStoreCases,
  clientStoreCasesFor,
  runClientStoreCase,
} from "./client-store-cases.js";

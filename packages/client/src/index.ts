/**
 * `@parley/client`: Parley's client SDK core. Transport-agnostic: give it any
 * Connect transport and a {@link ClientStore}; `@parley/client-web` and
 * `@parley/client-node` wire up presets.
 *
 * @packageDocumentation
 */
export type { TokenSource } from "./auth.js";
export {
  type ClientEvents,
  createParleyClient,
  type MessageRef,
  type ParleyClient,
  type ParleyClientOptions,
  type Receipt,
  type SendInput,
} from "./client.js";
export type { ConnectionState } from "./connection-state.js";
export { createSoloCoordinator, type TabCoordinator, type TabCoordinatorHandlers } from "./coordinator.js";
export {
  isParleyError,
  ParleyError,
  type ParleyErrorInit,
  type ParleyErrorReason,
  type ServerErrorReason,
  toParleyError,
} from "./errors.js";
export type { HistoryPage, HistoryQuery } from "./history.js";
export { type ClientLogger, silentLogger } from "./logger.js";
export { alwaysOnline, type NetworkMonitor } from "./network.js";
export { createNetworkSwitch, type NetworkSwitch, type NetworkSwitchOptions } from "./network-switch.js";
export {
  createMemoryClientStore,
  createMemoryStorage,
  type MemoryClientStoreOptions,
  type MemoryStorage,
} from "./store/memory.js";
export type {
  AttachmentInput,
  ClientStore,
  MessageQuery,
  MessageTarget,
  OutboxFailure,
  OutboxItem,
  OutboxOp,
  StoreBatch,
  StoredState,
} from "./store/port.js";
export { isTabMessage, type TabMessage } from "./tabs.js";
export type { LocalMessage, MessageStatus } from "./view.js";

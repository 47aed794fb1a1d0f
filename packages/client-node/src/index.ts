/**
 * `@parley/client-node`: Parley's client SDK for Node, for bots and services: a
 * connect-node preset of `@parley/client` and a durable file-backed store.
 *
 * @packageDocumentation
 */

export { createFileClientStore, type FileClientStoreOptions } from "./file-store.js";
export { createParleyNodeClient, type ParleyNodeClientOptions } from "./node-client.js";

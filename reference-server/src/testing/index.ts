/**
 * Test helpers that run the reference server as child processes (from source).
 *
 * @packageDocumentation
 */

export { freePort, type ServerProcess } from "./server-process.js";
export {
  type ClusterProcess,
  type SpawnClusterOptions,
  type SpawnedCluster,
  spawnCluster,
} from "./spawn-cluster.js";
export { type SpawnedServer, type SpawnServerOptions, spawnReferenceServer } from "./spawn-server.js";

/**
 * `@parley/server`: Parley's Connect service handlers, composed from the router,
 * history and presence ports, with JWT authentication.
 *
 * @packageDocumentation
 */
export {
  type AuthUser,
  authUserKey,
  bearerToken,
  createTokenVerifier,
  type MintTokenOptions,
  mintToken,
  type TokenKeyOptions,
  type TokenVerifier,
  type TokenVerifierOptions,
} from "./auth.js";
export {
  createLeanStreamHandler,
  type LeanStreamHandler,
  type LeanStreamHandlerOptions,
} from "./connect-stream.js";
export type { DevLoginOptions, GatewayOwnership, ParleyDeps } from "./deps.js";
export { createEmbeddedParley, type EmbeddedParley, type EmbeddedParleyOptions } from "./embedded.js";
export { authInterceptor, createParleyRoutes, errorInterceptor, parleyInterceptors } from "./routes.js";
export { directConversationId, groupConversationId } from "./services/conversation-service.js";

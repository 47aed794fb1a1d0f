import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import {
  AuthService,
  ConversationService,
  DiscoveryService,
  ErrorReason,
  MessageService,
  PresenceService,
  parleyDetail,
  parleyError,
  SyncService,
} from "@parley/protocol";
import { authUserKey, bearerToken } from "./auth.js";
import type { ParleyDeps } from "./deps.js";
import { authService } from "./services/auth-service.js";
import { conversationService } from "./services/conversation-service.js";
import { discoveryService } from "./services/discovery-service.js";
import { messageService } from "./services/message-service.js";
import { presenceService } from "./services/presence-service.js";
import { syncService } from "./services/sync-service.js";

const PUBLIC_METHODS = new Set([`${AuthService.typeName}/DevLogin`]);

/**
 * Verifies the bearer token on every call and stream (except dev login) and
 * puts the caller in the handler context.
 */
export function authInterceptor(deps: Pick<ParleyDeps, "verifyToken">): Interceptor {
  return (next) => async (req) => {
    if (!PUBLIC_METHODS.has(`${req.service.typeName}/${req.method.name}`)) {
      const user = await deps.verifyToken(bearerToken(req.header.get("authorization")));
      req.contextValues.set(authUserKey, user);
    }
    return next(req);
  };
}

/** Turns an unexpected failure into a Parley error and logs it. */
function normalizeError(deps: Pick<ParleyDeps, "logger">, method: string, err: unknown): ConnectError {
  if (err instanceof ConnectError && (parleyDetail(err) || err.code === Code.Canceled)) return err;
  if (err instanceof ConnectError) {
    return parleyError(ErrorReason.INTERNAL, err.rawMessage, { cause: err });
  }
  deps.logger.error("request failed", { method, err });
  return parleyError(
    ErrorReason.DEPENDENCY_UNAVAILABLE,
    "unable to complete request; a backing service failed, retry",
    {
      cause: err,
    },
  );
}

/** Logs each call and turns unexpected failures into Parley errors. */
export function errorInterceptor(deps: Pick<ParleyDeps, "logger">): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const inner = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* inner;
          } catch (err) {
            throw normalizeError(deps, method, err);
          }
        })(),
      };
    } catch (err) {
      throw normalizeError(deps, method, err);
    }
  };
}

/**
 * Registers all Parley services on a Connect router. Mount it with
 * `connectNodeAdapter({ routes: createParleyRoutes(deps), interceptors: parleyInterceptors(deps) })`.
 */
export function createParleyRoutes(deps: ParleyDeps): (router: ConnectRouter) => void {
  return (router) => {
    router.service(AuthService, authService(deps));
    router.service(ConversationService, conversationService(deps));
    router.service(MessageService, messageService(deps));
    router.service(SyncService, syncService(deps));
    router.service(PresenceService, presenceService(deps));
    router.service(DiscoveryService, discoveryService(deps));
  };
}

/** The interceptors Parley's routes need, outermost first. */
export function parleyInterceptors(deps: ParleyDeps): Interceptor[] {
  return [errorInterceptor(deps), authInterceptor(deps)];
}

import type { ConnectError } from "@connectrpc/connect";
import { ErrorReason, parleyError } from "@parley/protocol";
import type { GatewayOwnership, ParleyDeps } from "./deps.js";

/**
 * The `WRONG_GATEWAY` error for a user this gateway does not serve, with the
 * owner's base URL in `metadata.endpoint` when it is known. Without it (no owner
 * yet, or the routing map cannot be read) the client asks `GetEndpoint`.
 */
export async function wrongGateway(
  deps: Pick<ParleyDeps, "logger">,
  gateway: GatewayOwnership,
  op: string,
  userId: string,
): Promise<ConnectError> {
  let endpoint: string | undefined;
  try {
    endpoint = (await gateway.endpointFor(userId))?.baseUrl;
  } catch (err) {
    deps.logger.warn("unable to look up the user's gateway", { err, userId });
  }
  return parleyError(
    ErrorReason.WRONG_GATEWAY,
    endpoint === undefined
      ? `unable to ${op}; this gateway does not serve user ${userId}, ask GetEndpoint where to connect`
      : `unable to ${op}; this gateway does not serve user ${userId}, connect to ${endpoint}`,
    { metadata: endpoint === undefined ? {} : { endpoint } },
  );
}

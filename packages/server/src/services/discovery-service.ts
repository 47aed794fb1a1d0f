import type { ServiceImpl } from "@connectrpc/connect";
import { type DiscoveryService, ErrorReason, parleyError } from "@parley/protocol";
import { caller } from "../common.js";
import type { ParleyDeps } from "../deps.js";

/**
 * DiscoveryService: where the caller's devices connect. In embedded mode (no
 * `deps.gateway`), and for users this gateway owns, that is this gateway; otherwise
 * the owner `deps.gateway.endpointFor` names.
 */
export function discoveryService(deps: ParleyDeps): ServiceImpl<typeof DiscoveryService> {
  return {
    async getEndpoint(_req, ctx) {
      const user = caller(ctx);
      const self = { baseUrl: deps.discovery.baseUrl, gatewayId: deps.discovery.gatewayId };
      // This gateway's own view answers for the users it serves (Subscribe here succeeds).
      if (!deps.gateway || deps.gateway.owns(user.userId)) return self;
      const endpoint = await deps.gateway.endpointFor(user.userId);
      if (!endpoint) {
        throw parleyError(
          ErrorReason.DEPENDENCY_UNAVAILABLE,
          `unable to get endpoint; no gateway serves user ${user.userId} right now (partitions are being reassigned), retry`,
        );
      }
      return { baseUrl: endpoint.baseUrl, gatewayId: endpoint.gatewayId };
    },
  };
}

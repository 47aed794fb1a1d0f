import type { ServiceImpl } from "@connectrpc/connect";
import type { DiscoveryService } from "@parley/protocol";
import { caller } from "../common.js";
import type { ParleyDeps } from "../deps.js";

/** DiscoveryService: where the caller's devices connect (this gateway in embedded mode). */
export function discoveryService(deps: ParleyDeps): ServiceImpl<typeof DiscoveryService> {
  return {
    async getEndpoint(_req, ctx) {
      caller(ctx);
      return { baseUrl: deps.discovery.baseUrl, gatewayId: deps.discovery.gatewayId };
    },
  };
}

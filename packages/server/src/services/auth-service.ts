import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type AuthService, ErrorReason, parleyError } from "@parley/protocol";
import { mintToken } from "../auth.js";
import { caller } from "../common.js";
import type { ParleyDeps } from "../deps.js";
import { check } from "../validate.js";

/** AuthService: dev login (when enabled) and WhoAmI. */
export function authService(deps: ParleyDeps): ServiceImpl<typeof AuthService> {
  return {
    async devLogin(req) {
      const op = "log in";
      if (!deps.devLogin) {
        throw parleyError(
          ErrorReason.DEV_LOGIN_DISABLED,
          "unable to log in; dev login is disabled on this server",
        );
      }
      check.userId(op, req.userId, "user_id");
      const displayName = req.displayName.trim() || req.userId;
      if (displayName.length > 100) {
        throw parleyError(
          ErrorReason.FIELD_INVALID,
          "unable to log in; display_name is longer than 100 characters",
          {
            field: "display_name",
          },
        );
      }
      const { token, expiresAtMs } = await mintToken({ ...deps.devLogin, userId: req.userId, displayName });
      deps.logger.info("dev login", { userId: req.userId });
      return { token, userId: req.userId, expiresAt: timestampFromMs(expiresAtMs) };
    },
    async whoAmI(_req, ctx) {
      const user = caller(ctx);
      return {
        userId: user.userId,
        displayName: user.displayName,
        expiresAt: timestampFromMs(user.expiresAtMs),
      };
    },
  };
}

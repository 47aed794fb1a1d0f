import { randomBytes } from "node:crypto";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  AuthService,
  ConversationService,
  DiscoveryService,
  ErrorReason,
  MessageService,
  PresenceService,
  parleyDetail,
  SyncService,
} from "@parley/protocol";
import { SignJWT } from "jose";
import type { ServiceUnderTest } from "./types.js";

/** Claims and signing parameters for {@link mintToken}. */
export interface MintTokenOptions {
  /** HS256 secret. */
  secret: string;
  /** `iss` claim. */
  issuer: string;
  /** `aud` claim. */
  audience: string;
  /** `sub` claim (the user id); omitted from the token when undefined. */
  subject: string | undefined;
  /** `name` claim (display name); omitted when undefined. */
  name?: string;
  /** `iat` in seconds since the epoch; now when undefined. */
  issuedAt?: number;
  /** `exp` in seconds since the epoch; one hour after `iat` when undefined. */
  expiresAt?: number;
}

/** Signs an HS256 JWT the way a Parley deployment's identity provider would. */
export async function mintToken(options: MintTokenOptions): Promise<string> {
  const iat = options.issuedAt ?? Math.floor(Date.now() / 1000);
  const exp = options.expiresAt ?? iat + 3600;
  const claims: Record<string, unknown> = {};
  if (options.name !== undefined) claims.name = options.name;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp);
  if (options.subject !== undefined) jwt.setSubject(options.subject);
  return jwt.sign(new TextEncoder().encode(options.secret));
}

/** Mints a valid one-hour token for `userId` on `service`. */
export function mintServiceToken(service: ServiceUnderTest, userId: string, name?: string): Promise<string> {
  return mintToken({
    secret: service.jwt.secret,
    issuer: service.jwt.issuer,
    audience: service.jwt.audience,
    subject: userId,
    name: name ?? userId,
  });
}

/** One Connect client per Parley service, sharing one transport. */
export interface ParleyClients {
  auth: Client<typeof AuthService>;
  conversations: Client<typeof ConversationService>;
  messages: Client<typeof MessageService>;
  sync: Client<typeof SyncService>;
  presence: Client<typeof PresenceService>;
  discovery: Client<typeof DiscoveryService>;
}

/** Most `WRONG_GATEWAY` redirects one Subscribe follows before it gives up. */
const MAX_REDIRECTS = 5;

/**
 * `SyncService.Subscribe` that follows `WRONG_GATEWAY` before the first response, the
 * way the SDK does: to `metadata.endpoint`, or else to what `GetEndpoint` answers. In
 * cluster mode only the gateway that owns a user's inbox partition holds their streams;
 * embedded servers never redirect. Errors after the first response are passed on.
 */
function followRedirects(
  base: Client<typeof SyncService>,
  discovery: Client<typeof DiscoveryService>,
  syncAt: (baseUrl: string) => Client<typeof SyncService>,
): Client<typeof SyncService>["subscribe"] {
  return (request, options) =>
    (async function* () {
      let sync = base;
      for (let hop = 0; ; hop++) {
        let received = false;
        try {
          for await (const res of sync.subscribe(request, options)) {
            received = true;
            yield res;
          }
          return;
        } catch (err) {
          const detail = parleyDetail(err);
          if (received || hop >= MAX_REDIRECTS || detail?.reason !== ErrorReason.WRONG_GATEWAY) throw err;
          let endpoint = detail.metadata.endpoint;
          if (!endpoint) {
            await new Promise((r) => setTimeout(r, 100 * 2 ** hop));
            endpoint = (await discovery.getEndpoint({}, { signal: options?.signal })).baseUrl;
          }
          sync = endpoint ? syncAt(endpoint) : base;
        }
      }
    })();
}

/**
 * Connect clients (HTTP/1.1, Connect protocol) for every Parley service at
 * `baseUrl`. `authorization` is sent verbatim as the Authorization header when
 * given: pass `Bearer <token>` for a normal user, anything else to test auth.
 * `sync.subscribe` follows `WRONG_GATEWAY` redirects to the gateway that serves the user.
 */
export function createParleyClients(baseUrl: string, authorization?: string): ParleyClients {
  const interceptors: Interceptor[] = [];
  if (authorization !== undefined) {
    interceptors.push((next) => async (req) => {
      req.header.set("Authorization", authorization);
      return next(req);
    });
  }
  const transportTo = (url: string) =>
    createConnectTransport({ baseUrl: url, httpVersion: "1.1", interceptors });
  const transport = transportTo(baseUrl);
  const discovery = createClient(DiscoveryService, transport);
  const sync = createClient(SyncService, transport);
  return {
    auth: createClient(AuthService, transport),
    conversations: createClient(ConversationService, transport),
    messages: createClient(MessageService, transport),
    sync: {
      ...sync,
      subscribe: followRedirects(sync, discovery, (url) => createClient(SyncService, transportTo(url))),
    },
    presence: createClient(PresenceService, transport),
    discovery,
  };
}

let counter = 0;
const runId = randomBytes(3).toString("hex");

/**
 * A user id unique to this process and call: `<label>.<run>.<n>.<random>`, always
 * a valid Parley user id (at most 64 of [A-Za-z0-9_.@-]).
 */
export function uniqueUserId(label = "u"): string {
  counter += 1;
  const safe = label.replace(/[^A-Za-z0-9_.@-]/g, "_").slice(0, 24);
  return `${safe}.${runId}.${counter}.${randomBytes(3).toString("hex")}`;
}

/** A client-generated id (for client_msg_id / client_id / group client_id). */
export function clientId(): string {
  return `c-${randomBytes(9).toString("base64url")}`;
}

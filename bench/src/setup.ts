/** Creating the benchmark's users' conversations through the public API. */
import { create } from "@bufbuild/protobuf";
import {
  ConversationService,
  CreateDirectRequestSchema,
  CreateDirectResponseSchema,
  CreateGroupRequestSchema,
  CreateGroupResponseSchema,
} from "@parley/protocol";
import type { Target } from "./targets.js";
import { createTokenMinter } from "./tokens.js";
import { parseBaseUrl, UnaryPool } from "./wire.js";

/** Calls the orchestrator makes before a run (from 127.0.0.1, not timed). */
export interface ParleySetup {
  /** The direct conversation of `a` and `b` (created by `a`). */
  direct(a: string, b: string): Promise<string>;
  /** A group owned by `owner` with `members` (the owner excluded). */
  group(owner: string, members: string[]): Promise<string>;
  /** Runs `work` over `items` with at most `concurrency` calls at a time. */
  all<T, R>(items: T[], work: (item: T) => Promise<R>, concurrency?: number): Promise<R[]>;
  close(): void;
}

export function createParleySetup(target: Target): ParleySetup {
  const pool = new UnaryPool({ ...parseBaseUrl(target.baseUrl), localAddresses: ["127.0.0.1"] }, 32);
  const token = createTokenMinter(target.jwt);
  let groups = 0;
  return {
    async direct(a, b) {
      const res = await pool.call(
        `/${ConversationService.typeName}/CreateDirect`,
        CreateDirectRequestSchema,
        CreateDirectResponseSchema,
        create(CreateDirectRequestSchema, { peerUserId: b }),
        await token(a),
      );
      return res.conversation?.conversationId ?? "";
    },
    async group(owner, members) {
      groups++;
      const res = await pool.call(
        `/${ConversationService.typeName}/CreateGroup`,
        CreateGroupRequestSchema,
        CreateGroupResponseSchema,
        create(CreateGroupRequestSchema, {
          clientId: `bench-group-${groups}-${Date.now().toString(36)}`,
          title: `bench group ${groups}`,
          memberIds: members,
        }),
        await token(owner),
      );
      return res.conversation?.conversationId ?? "";
    },
    async all(items, work, concurrency = 32) {
      const out = new Array(items.length);
      let next = 0;
      const lane = async () => {
        for (;;) {
          const i = next++;
          if (i >= items.length) return;
          out[i] = await work(items[i] as (typeof items)[number]);
        }
      };
      await Promise.all(Array.from({ length: concurrency }, lane));
      return out;
    },
    close: () => pool.close(),
  };
}

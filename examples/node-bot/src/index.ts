/**
 * `@parley/example-node-bot`: a small Parley bot to copy and adapt.
 *
 * @packageDocumentation
 */
export {
  type Bot,
  type BotLogger,
  type BotOptions,
  createBot,
  echoReply,
  HELP_TEXT,
  type ReplyFn,
  replyClientMsgId,
} from "./bot.js";

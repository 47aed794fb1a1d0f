/**
 * Runs the echo bot until SIGINT or SIGTERM.
 *
 *   PARLEY_URL     the server (default http://localhost:8080)
 *   PARLEY_BOT_ID  the bot's user id (default "echo-bot")
 *   PARLEY_TOKEN   a token for that user; without it the bot uses DevLogin
 *
 * @module
 */
import { createBot } from "./bot.js";

const bot = createBot({
  baseUrl: process.env.PARLEY_URL || "http://localhost:8080",
  userId: process.env.PARLEY_BOT_ID || "echo-bot",
  token: process.env.PARLEY_TOKEN || undefined,
  // No `reply`: the default echo brain. Pass your own function to build a real bot.
});

const shutdown = (signal: string) => {
  console.log(`[bot] ${signal}: stopping`);
  void bot.stop();
};
process.once("SIGINT", () => shutdown("SIGINT"));
process.once("SIGTERM", () => shutdown("SIGTERM"));

try {
  await bot.start();
  await bot.done;
} catch {
  // The bot has already logged why it stopped.
  process.exitCode = 1;
}

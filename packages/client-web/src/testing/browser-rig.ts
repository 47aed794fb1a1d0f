/**
 * Node-side test infrastructure for the Chromium tests (internal: not exported
 * from the package). It bundles the harness page (`harness-page.ts`) with
 * esbuild, serves it from the real reference server (same origin as the API),
 * and drives Debian's Chromium through playwright-core.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AuthService } from "@parley/protocol";
import { type SpawnedServer, spawnReferenceServer } from "@parley/reference-server/testing";
import { build } from "esbuild";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's Chromium (`apt-get install chromium`); never a downloaded browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

const HARNESS_ENTRY = fileURLToPath(new URL("./harness-page.ts", import.meta.url));
/** Screenshots and page logs of failed tests (git-ignored). */
export const FAILURE_DIR = fileURLToPath(new URL("../../test-results/", import.meta.url));

/** The part of a Vitest task {@link BrowserRig.afterTest} reads. */
export interface FinishedTask {
  readonly name: string;
  readonly result?: { readonly state?: string };
}

/** What {@link startBrowserRig} gives a test file. */
export interface BrowserRig {
  readonly server: SpawnedServer;
  /** The server's origin; the harness page is served at "/". */
  readonly baseUrl: string;
  readonly browser: Browser;
  /** A fresh browser context (its own storage: IndexedDB, Web Locks, BroadcastChannel scope). */
  newContext(): Promise<BrowserContext>;
  /** Opens the harness page in a (new or given) context and waits until its API is there. */
  openPage(context?: BrowserContext): Promise<Page>;
  /**
   * Serves the harness page and script to `context` from memory, as an app's
   * service worker would, so its pages load (and reload) while it is offline.
   */
  cacheAppShell(context: BrowserContext): Promise<void>;
  /** Reloads a harness page and waits until its API is there again. */
  reload(page: Page): Promise<void>;
  /** Live Subscribe streams the server holds (`GET /healthz`). */
  streams(): Promise<number>;
  /** A token for `userId` from the server's DevLogin RPC. */
  devLogin(userId: string): Promise<string>;
  /** Writes a screenshot and the console log of every open page to {@link FAILURE_DIR}. */
  saveFailure(testName: string): Promise<void>;
  /** Closes every context opened since the last call (between tests). */
  closeContexts(): Promise<void>;
  /**
   * For `afterEach`: saves the failure (while the pages are still open) when the
   * test failed, then closes its contexts.
   */
  afterTest(task: FinishedTask, label: string): Promise<void>;
  /** Closes the browser, stops the server and removes the bundle. */
  close(): Promise<void>;
}

/** Bundles the harness page (index.html + harness.js) into `dir`. */
export async function bundleHarness(dir: string): Promise<void> {
  await build({
    entryPoints: [HARNESS_ENTRY],
    outfile: join(dir, "harness.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "chrome120",
    conditions: ["source"],
    sourcemap: "inline",
    logLevel: "silent",
  });
  await writeFile(
    join(dir, "index.html"),
    '<!doctype html><html><head><meta charset="utf-8"><title>parley harness</title></head>' +
      '<body><h1>parley harness</h1><pre id="log"></pre><script type="module" src="/harness.js"></script></body></html>\n',
  );
}

/** Starts the reference server serving the harness page, and Chromium. Call once per test file. */
export async function startBrowserRig(): Promise<BrowserRig> {
  const dir = await mkdtemp(join(tmpdir(), "parley-web-harness-"));
  await bundleHarness(dir);
  const server = await spawnReferenceServer({ env: { PARLEY_STATIC_DIR: dir } });
  const { baseUrl } = server;
  const browser = await chromium
    .launch({
      executablePath: CHROMIUM_PATH,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
      ],
    })
    .catch(async (err: unknown) => {
      await server.cleanup();
      throw err;
    });
  const contexts: BrowserContext[] = [];
  const logs = new Map<Page, string[]>();
  const auth = createClient(AuthService, createConnectTransport({ baseUrl, useBinaryFormat: true }));

  const waitForHarness = (page: Page) => page.waitForFunction(() => window.parley !== undefined);

  const rig: BrowserRig = {
    server,
    baseUrl,
    browser,
    async newContext() {
      const context = await browser.newContext();
      contexts.push(context);
      return context;
    },
    async openPage(context) {
      const page = await (context ?? (await rig.newContext())).newPage();
      const log: string[] = [];
      logs.set(page, log);
      page.on("console", (msg) => log.push(`[${msg.type()}] ${msg.text()}`));
      page.on("pageerror", (err) => log.push(`[pageerror] ${err.stack ?? err.message}`));
      await page.goto(baseUrl);
      await waitForHarness(page);
      return page;
    },
    async cacheAppShell(context) {
      const html = await readFile(join(dir, "index.html"), "utf8");
      const script = await readFile(join(dir, "harness.js"), "utf8");
      const origin = new URL(baseUrl).origin;
      await context.route(
        (url) => url.origin === origin && (url.pathname === "/" || url.pathname === "/harness.js"),
        (route) =>
          new URL(route.request().url()).pathname === "/harness.js"
            ? route.fulfill({ body: script, contentType: "text/javascript; charset=utf-8" })
            : route.fulfill({ body: html, contentType: "text/html; charset=utf-8" }),
      );
    },
    async reload(page) {
      await page.reload();
      await waitForHarness(page);
    },
    async streams() {
      const res = await fetch(`${baseUrl}/healthz`);
      const body = (await res.json()) as { streams?: number };
      return body.streams ?? -1;
    },
    async devLogin(userId) {
      return (await auth.devLogin({ userId })).token;
    },
    async saveFailure(testName) {
      await mkdir(FAILURE_DIR, { recursive: true });
      const base = testName.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 120);
      let n = 0;
      for (const context of contexts) {
        for (const page of context.pages()) {
          n += 1;
          const file = join(FAILURE_DIR, `${base}.page${n}`);
          await page.screenshot({ path: `${file}.png`, fullPage: true }).catch(() => undefined);
          await writeFile(`${file}.log`, `${page.url()}\n${(logs.get(page) ?? []).join("\n")}\n`);
        }
      }
      await writeFile(join(FAILURE_DIR, `${base}.server.log`), server.output());
    },
    async closeContexts() {
      const open = contexts.splice(0);
      await Promise.all(open.map((context) => context.close().catch(() => undefined)));
    },
    async afterTest(task, label) {
      if (task.result?.state === "fail") await rig.saveFailure(`${label} ${task.name}`);
      await rig.closeContexts();
    },
    async close() {
      await rig.closeContexts();
      await browser.close().catch(() => undefined);
      await server.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return rig;
}

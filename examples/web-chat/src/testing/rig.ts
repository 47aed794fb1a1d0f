/**
 * Node-side test infrastructure for the web chat's Chromium tests: builds the app
 * with Vite, serves it from the real reference server (same origin as the API),
 * and drives Debian's Chromium through playwright-core. Not part of the app.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type SpawnedServer, spawnReferenceServer } from "@parley/reference-server/testing";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's Chromium (`apt-get install chromium`); never a downloaded browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";
/** The app's folder (examples/web-chat). */
export const APP_DIR = fileURLToPath(new URL("../../", import.meta.url));
/** Screenshots of every test, and page logs of failed ones (git-ignored). */
export const ARTIFACTS_DIR = join(APP_DIR, "test-artifacts");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** Runs this package's `vite build` into `outDir` (a child process, so Vitest's own Vite stays out of it). */
export async function buildApp(outDir: string): Promise<void> {
  const vitePackage = createRequire(join(APP_DIR, "package.json")).resolve("vite/package.json");
  const viteBin = join(vitePackage, "..", "bin", "vite.js");
  await promisify(execFile)(
    process.execPath,
    [viteBin, "build", "--outDir", outDir, "--emptyOutDir", "--logLevel", "warn"],
    // A production build, whatever NODE_ENV the test runner set ("test" would select React's development build).
    { cwd: APP_DIR, env: { ...process.env, NODE_ENV: "production" } },
  );
}

/** What {@link startAppRig} gives a test file. */
export interface AppRig {
  readonly server: SpawnedServer;
  /** The server's origin; the app is served at "/". */
  readonly baseUrl: string;
  readonly browser: Browser;
  /** A fresh browser context (its own localStorage, IndexedDB, Web Locks): one browser of one person. */
  newContext(): Promise<BrowserContext>;
  /** Opens the app in a new tab of `context`. */
  openApp(context: BrowserContext): Promise<Page>;
  /**
   * Serves the built app to `context` from memory, as an app's service worker
   * would, so its pages load (and reload) while the context is offline.
   */
  cacheAppShell(context: BrowserContext): Promise<void>;
  /** Live Subscribe streams the server holds (`GET /healthz`). */
  streams(): Promise<number>;
  /** A Connect unary call in JSON, as `userId` when a token is given. */
  call<T>(method: string, body: unknown, token?: string): Promise<T>;
  /** A token for `userId` from DevLogin. */
  devLogin(userId: string): Promise<string>;
  /** Writes a screenshot of `page` to {@link ARTIFACTS_DIR} and returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
  /** For `afterEach`: on failure saves every open page and the server log, then closes the contexts. */
  afterTest(task: { name: string; result?: { state?: string } }): Promise<void>;
  /** Closes the browser, stops the server and removes the build. */
  close(): Promise<void>;
}

/** Builds the app, starts the reference server serving it, and Chromium. Call once per test file. */
export async function startAppRig(): Promise<AppRig> {
  // Artifacts are those of the latest run only.
  await rm(ARTIFACTS_DIR, { recursive: true, force: true });
  const dist = await mkdtemp(join(tmpdir(), "parley-web-chat-"));
  await buildApp(dist);
  const server = await spawnReferenceServer({ env: { PARLEY_STATIC_DIR: dist } });
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
  const safeName = (name: string) => name.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 100);

  const rig: AppRig = {
    server,
    baseUrl,
    browser,
    async newContext() {
      const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
      contexts.push(context);
      return context;
    },
    async openApp(context) {
      const page = await context.newPage();
      const log: string[] = [];
      logs.set(page, log);
      page.on("console", (msg) => log.push(`[${msg.type()}] ${msg.text()}`));
      page.on("pageerror", (err) => log.push(`[pageerror] ${err.stack ?? err.message}`));
      await page.goto(baseUrl);
      return page;
    },
    async cacheAppShell(context) {
      const origin = new URL(baseUrl).origin;
      await context.route(
        (url) => url.origin === origin && !url.pathname.startsWith("/parley.") && url.pathname !== "/healthz",
        async (route) => {
          const path = normalize(decodeURIComponent(new URL(route.request().url()).pathname));
          let file = join(dist, path);
          const isFile = await stat(file).then(
            (s) => s.isFile(),
            () => false,
          );
          if (!file.startsWith(dist) || !isFile) file = join(dist, "index.html");
          await route.fulfill({
            body: await readFile(file),
            contentType: TYPES[extname(file)] ?? "application/octet-stream",
          });
        },
      );
    },
    async streams() {
      const res = await fetch(`${baseUrl}/healthz`);
      const body = (await res.json()) as { streams?: number };
      return body.streams ?? -1;
    },
    async call<T>(method: string, body: unknown, token?: string): Promise<T> {
      const res = await fetch(`${baseUrl}/${method}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method} answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as T;
    },
    async devLogin(userId) {
      return (await rig.call<{ token: string }>("parley.v1.AuthService/DevLogin", { userId })).token;
    },
    async screenshot(page, name) {
      await mkdir(ARTIFACTS_DIR, { recursive: true });
      const path = join(ARTIFACTS_DIR, `${safeName(name)}.png`);
      await page.screenshot({ path });
      return path;
    },
    async afterTest(task) {
      if (task.result?.state === "fail") {
        await mkdir(ARTIFACTS_DIR, { recursive: true });
        const base = join(ARTIFACTS_DIR, `FAILED-${safeName(task.name)}`);
        let n = 0;
        for (const context of contexts) {
          for (const page of context.pages()) {
            n += 1;
            await page.screenshot({ path: `${base}.page${n}.png`, fullPage: true }).catch(() => undefined);
            await writeFile(`${base}.page${n}.log`, `${page.url()}\n${(logs.get(page) ?? []).join("\n")}\n`);
          }
        }
        await writeFile(`${base}.server.log`, server.output());
      }
      const open = contexts.splice(0);
      await Promise.all(open.map((context) => context.close().catch(() => undefined)));
    },
    async close() {
      await Promise.all(contexts.splice(0).map((context) => context.close().catch(() => undefined)));
      await browser.close().catch(() => undefined);
      await server.cleanup();
      await rm(dist, { recursive: true, force: true });
    },
  };
  return rig;
}

import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig, type PluginOption } from "vite";

/** Where `npm run dev` sends Connect calls; the reference server's default address. */
const API = process.env.PARLEY_API_URL ?? "http://localhost:8080";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // The cast: @vitejs/plugin-react is hoisted to the root node_modules, where it sees
  // vitest's Vite 8 types rather than this package's Vite 7; the plugin works with both.
  plugins: [react() as unknown as PluginOption],
  resolve: {
    // Build the workspace packages from their TypeScript sources (no package build needed).
    conditions: ["source", ...defaultClientConditions],
  },
  server: {
    // Connect paths start with the package name: /parley.v1.MessageService/SendMessage, ...
    proxy: { "/parley.": { target: API, changeOrigin: true } },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
  },
});

import { fileURLToPath } from "node:url";
import { defaultClientConditions, defineConfig } from "vite";

/** Where `npm run dev` sends Connect calls; the reference server's default address. */
const API = process.env.PARLEY_API_URL ?? "http://localhost:8080";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // JSX is compiled by Vite's own esbuild step (automatic runtime, from tsconfig's "jsx").
  // @vitejs/plugin-react is not used: npm hoisted it to the root node_modules, where it
  // imports vitest's Vite 8 rather than this package's Vite 7, and its Fast Refresh wrapper
  // then breaks the dev server. Without it, edits reload the page instead of hot-swapping.
  esbuild: { jsx: "automatic" },
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

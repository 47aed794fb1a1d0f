import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig } from "vite";

/** Where `npm run dev` sends Connect calls; the reference server's default address. */
const API = process.env.PARLEY_API_URL ?? "http://localhost:8080";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // JSX with the automatic runtime, and Fast Refresh in `npm run dev`.
  plugins: [react()],
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

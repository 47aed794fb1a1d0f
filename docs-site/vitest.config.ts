import { defineConfig } from "vitest/config";

/**
 * Runs the docs' snippet tests alone: `npm test -w @parley/docs-site`. The root
 * Vitest config runs them with everything else once its `include` lists
 * "docs-site/snippets/**\/*.test.ts". Packages are imported from source.
 */
export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"], externalConditions: ["source"] } },
  test: {
    include: ["snippets/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});

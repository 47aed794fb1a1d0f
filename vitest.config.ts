import { defineConfig } from "vitest/config";

/**
 * One Vitest run for the whole repo. Packages are imported from source through the
 * "source" export condition, so no build is needed before testing.
 */
export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"], externalConditions: ["source"] } },
  test: {
    include: [
      "packages/*/src/**/*.test.ts",
      "reference-server/src/**/*.test.ts",
      "examples/*/src/**/*.test.ts",
      "scripts/**/*.test.ts",
      "docs-site/snippets/**/*.test.ts",
    ],
    exclude: ["**/node_modules/**", "**/dist/**", "**/*.integration.test.ts", "**/*.outage.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});

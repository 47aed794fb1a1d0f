import { defineConfig, type Options } from "tsup";

/**
 * The one tsup configuration every library package builds with: ESM, type
 * declarations, source maps, Node 22 target. A package's `tsup.config.ts` only
 * names its entry points.
 */
export function parleyTsup(entry: string[] = ["src/index.ts"], extra: Options = {}) {
  return defineConfig({
    entry,
    format: ["esm"],
    target: "node22",
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: false,
    // Keep "node:" specifiers: builtins such as node:sqlite exist only under that name.
    removeNodeProtocol: false,
    ...extra,
  });
}

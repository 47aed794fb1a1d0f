#!/usr/bin/env node
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
// Measures what @parley/client-web costs an app: bundles its public entry the way
// an app bundler would (browser platform, minified, tree-shaken, every dependency
// included, workspace packages from source via the "source" condition) and prints
// the min and min+gzip sizes plus the biggest contributors from esbuild's metafile.
//
//   node packages/client-web/scripts/size.mjs [--json]
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const repoDir = fileURLToPath(new URL("../../..", import.meta.url));
const entry = fileURLToPath(new URL("../src/index.ts", import.meta.url));

const result = await build({
  entryPoints: [entry],
  bundle: true,
  write: false,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  treeShaking: true,
  conditions: ["source"],
  metafile: true,
  outfile: "out.js",
  absWorkingDir: pkgDir,
  logLevel: "warning",
});

const code = result.outputFiles[0].contents;
const min = code.byteLength;
const gz = gzipSync(code, { level: 9 }).byteLength;

/** Which part of the stack an input file belongs to. */
function groupOf(path) {
  const p = resolve(pkgDir, path).replaceAll("\\", "/");
  const nm = p.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/);
  if (nm) {
    const [, name, rest] = nm;
    if (name === "@bufbuild/protobuf" && /(^|\/)wkt\//.test(rest))
      return "@bufbuild/protobuf (descriptor.proto, well-known types)";
    if (name === "@bufbuild/protobuf") return "@bufbuild/protobuf (runtime)";
    return name;
  }
  if (p.includes("packages/protocol/src/gen/")) return "@parley/protocol (generated descriptors)";
  const ws = p.match(/packages\/([^/]+)\/src\//);
  if (ws) return `@parley/${ws[1]}${ws[1] === "protocol" ? " (helpers)" : ""}`;
  return p;
}

const output = Object.values(result.metafile.outputs)[0];
const groups = new Map();
const files = [];
for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
  if (!bytesInOutput) continue;
  const group = groupOf(path);
  groups.set(group, (groups.get(group) ?? 0) + bytesInOutput);
  const shown = resolve(pkgDir, path)
    .replace(/^.*node_modules\//, "")
    .replace(repoDir, "");
  files.push({ path: shown, bytes: bytesInOutput });
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const pct = (n) => `${((100 * n) / min).toFixed(1)}%`;

if (process.argv.includes("--json")) {
  console.log(
    JSON.stringify(
      { minBytes: min, gzipBytes: gz, groups: Object.fromEntries([...groups].sort((a, b) => b[1] - a[1])) },
      null,
      2,
    ),
  );
} else {
  console.log(`@parley/client-web: ${kb(min)} min, ${kb(gz)} min+gzip`);
  console.log("\nby package (minified bytes in the bundle, before gzip):");
  for (const [group, bytes] of [...groups].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${kb(bytes).padStart(9)}  ${pct(bytes).padStart(6)}  ${group}`);
  }
  console.log("\nbiggest files:");
  for (const { path, bytes } of files.sort((a, b) => b.bytes - a.bytes).slice(0, 12)) {
    console.log(`  ${kb(bytes).padStart(9)}  ${path}`);
  }
}

// Checks that every relative link in the site's Markdown files points to an
// existing file. Exits 1 listing the broken ones. A placeholder for the real build.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const siteDir = dirname(fileURLToPath(import.meta.url));
const skipDirs = new Set(["node_modules", ".vitepress", "dist"]);

/** Markdown files under `dir`, recursively. */
function markdownFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return skipDirs.has(entry.name) ? [] : markdownFiles(path);
    return entry.name.endsWith(".md") ? [path] : [];
  });
}

/** Link targets in Markdown text, outside code fences and inline code. */
function linkTargets(text) {
  const prose = text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "").replace(/`[^`\n]*`/g, "");
  const targets = [];
  // [text](target "title") and ![alt](target)
  for (const match of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+["'(][^)]*)?\)/g)) targets.push(match[1]);
  // [label]: target
  for (const match of prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) targets.push(match[1]);
  return targets;
}

const broken = [];
const files = markdownFiles(siteDir);
for (const file of files) {
  for (const target of linkTargets(readFileSync(file, "utf8"))) {
    // Skip absolute URLs (http:, mailto:, ...), protocol-relative and in-page anchors.
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//") || target.startsWith("#")) continue;
    const path = decodeURIComponent(target.replace(/[?#].*$/, ""));
    if (path === "") continue;
    const resolved = path.startsWith("/") ? join(siteDir, path) : resolve(dirname(file), path);
    if (!existsSync(resolved)) broken.push(`${relative(siteDir, file)}: ${target}`);
  }
}

if (broken.length > 0) {
  console.error(`docs-site: ${broken.length} broken link(s):\n  ${broken.join("\n  ")}`);
  process.exit(1);
}
console.log(`docs-site: ${files.length} Markdown file(s), all relative links resolve`);

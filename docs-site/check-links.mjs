// Checks every link of the built site (.vitepress/dist), after `vitepress build`:
//
// - a link to a page of the site (nav, sidebar, Markdown, the API reference) names a
//   page that was built, and its #anchor an id on that page;
// - a link to a file of the repository (Markdown links that leave docs-site/, rewritten
//   by .vitepress/repo-links.ts) names a file of this checkout, and an #anchor into a
//   Markdown file names one of its headings (GitHub's heading ids).
//
// VitePress itself fails the build on a Markdown link to a missing page, but checks
// neither anchors nor nav/sidebar links. Exits 1 listing the broken links.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { repoBranch, repoUrl } from "./.vitepress/repo.mjs";

const siteDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(siteDir, "..");
const distDir = join(siteDir, ".vitepress", "dist");

/** HTML files under `dir`, recursively. */
function htmlFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return htmlFiles(path);
    return entry.name.endsWith(".html") ? [path] : [];
  });
}

const decode = (text) =>
  text.replace(
    /&(amp|lt|gt|quot|#39|#x27);/g,
    (_, name) => ({ amp: "&", lt: "<", gt: ">", quot: '"' })[name] ?? "'",
  );

/** The ids of a built page. */
const idCache = new Map();
function pageIds(file) {
  let ids = idCache.get(file);
  if (!ids) {
    const html = readFileSync(file, "utf8");
    ids = new Set([...html.matchAll(/\sid="([^"]*)"/g)].map((m) => decode(m[1])));
    idCache.set(file, ids);
  }
  return ids;
}

/** GitHub's heading ids of a Markdown file (lowercase, punctuation dropped, spaces to dashes). */
function markdownAnchors(file) {
  const text = readFileSync(file, "utf8").replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
  const anchors = new Set();
  const seen = new Map();
  for (const match of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = match[1]
      .replace(/`([^`]*)`/g, "$1")
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** The built file a site path names, or undefined. */
function builtFile(path) {
  const candidates = path.endsWith("/")
    ? [`${path}index.html`]
    : [path, `${path}.html`, `${path}/index.html`];
  for (const candidate of candidates) {
    const file = join(distDir, candidate);
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  return undefined;
}

if (!existsSync(distDir)) {
  console.error(`docs-site: ${relative(repoRoot, distDir)} is missing; run vitepress build first`);
  process.exit(1);
}

/** "<href> (<why>)" → the pages linking to it. */
const broken = new Map();
let checked = 0;
const repoPrefix = `${repoUrl}/`;
for (const file of htmlFiles(distDir)) {
  const page = `/${relative(distDir, file).split("\\").join("/")}`;
  const html = readFileSync(file, "utf8");
  for (const match of html.matchAll(/<a\s[^>]*?href="([^"]*)"/g)) {
    const href = decode(match[1]);
    const report = (why) => {
      const key = `${href} (${why})`;
      broken.set(key, [...(broken.get(key) ?? []), page]);
    };
    checked++;
    if (href.startsWith(repoPrefix)) {
      const rest = href.slice(repoPrefix.length);
      if (rest === "") continue;
      const repoLink = rest.match(new RegExp(`^(?:blob|tree)/${repoBranch}/([^#?]+)(?:#(.*))?$`));
      if (!repoLink) {
        report("not a file link of the repository");
        continue;
      }
      const target = join(repoRoot, decodeURIComponent(repoLink[1]));
      if (!existsSync(target)) report("no such file in the repository");
      else if (
        repoLink[2] &&
        target.endsWith(".md") &&
        !markdownAnchors(target).has(decodeURIComponent(repoLink[2]))
      ) {
        report("no such heading in the file");
      }
      continue;
    }
    // Other absolute URLs (https:, mailto:, ...) and protocol-relative ones are not checked.
    if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//")) continue;
    const [pathAndQuery = "", hash] = href.split("#", 2);
    const path = decodeURIComponent(pathAndQuery.replace(/\?.*$/, ""));
    const target = path === "" ? file : builtFile(new URL(path, `https://site${page}`).pathname);
    if (!target) {
      report("no such page");
      continue;
    }
    if (hash && !pageIds(target).has(decodeURIComponent(hash))) report("no such anchor");
  }
}

if (broken.size > 0) {
  const lines = [...broken].map(([link, pages]) => {
    const more = pages.length > 1 ? ` and ${pages.length - 1} more page(s)` : "";
    return `${link} on ${pages[0]}${more}`;
  });
  console.error(`docs-site: ${broken.size} broken link(s) in the built site:\n  ${lines.join("\n  ")}`);
  process.exit(1);
}
console.log(`docs-site: ${checked} link(s) checked, all resolve`);

import { existsSync, statSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import type { MarkdownRenderer } from "vitepress";
import { repoBranch, repoUrl } from "./repo.mjs";

/** The repository checkout the site is built from (the parent of docs-site/). */
export const repoRoot = resolve(import.meta.dirname, "../..");
const siteDir = resolve(import.meta.dirname, "..");

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * Links in the Markdown that leave `docs-site/` (e.g. `../services/README.md` from
 * the site's root), or name a file of it that is not a page (e.g. a snippet), name
 * files of the repository: they must exist in this checkout,
 * and are rewritten to `<repoUrl>/blob/<branch>/<path>` (`tree` for folders). A link
 * to a missing file stops the build with the page and the link.
 */
export function repoLinks(md: MarkdownRenderer): void {
  md.core.ruler.push("parley_repo_links", (state) => {
    const page: string | undefined = state.env?.path;
    if (!page) return;
    for (const block of state.tokens) {
      for (const token of block.children ?? []) {
        if (token.type !== "link_open") continue;
        const href = token.attrGet("href");
        if (!href || SCHEME.test(href) || href.startsWith("#") || href.startsWith("/")) continue;
        const [path = "", hash = ""] = href.split(/(?=#)/, 2);
        const target = resolve(dirname(page), decodeURIComponent(path));
        // Pages and public files of the site are VitePress's to resolve; any other
        // file (outside docs-site/, or e.g. a snippet) is a repository file.
        const inSite = !relative(siteDir, target).startsWith("..");
        const sourceFile = existsSync(target) && statSync(target).isFile() && !target.endsWith(".md");
        if (inSite && !sourceFile) continue;
        const inRepo = relative(repoRoot, target);
        if (inRepo.startsWith("..") || isAbsolute(inRepo) || !existsSync(target)) {
          throw new Error(`${relative(siteDir, page)}: the link ${href} names no file of the repository`);
        }
        const kind = statSync(target).isDirectory() ? "tree" : "blob";
        token.attrSet("href", `${repoUrl}/${kind}/${repoBranch}/${inRepo.split(sep).join("/")}${hash}`);
      }
    }
  });
}

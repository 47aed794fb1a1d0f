// Where links to repository files point in the built site. Markdown links that leave
// docs-site/ (e.g. `../services/README.md` from the site's root) name files of the
// repository; .vitepress/repo-links.ts rewrites them to `<repoUrl>/blob/<branch>/<path>`
// and check-links.mjs checks that each names a file of this checkout.

/** The repository's web address. Set `PARLEY_DOCS_REPO_URL` when publishing. */
export const repoUrl = (process.env.PARLEY_DOCS_REPO_URL ?? "https://github.com/parley-chat/parley").replace(
  /\/+$/,
  "",
);

/** The branch repository links name. */
export const repoBranch = process.env.PARLEY_DOCS_REPO_BRANCH ?? "main";

import { defineConfig } from "vitepress";
import list from "../api-packages.json" with { type: "json" };
import { repoUrl } from "./repo.mjs";
import { repoLinks } from "./repo-links.js";

const guide = [
  { text: "Quick start", link: "/guide/quick-start" },
  { text: "SDK guide", link: "/guide/sdk" },
  { text: "Server composition", link: "/guide/server" },
  { text: "Cluster deployment", link: "/guide/cluster" },
];

/**
 * Parley's documentation site. `npm run build -w @parley/docs-site` writes the API
 * reference with TypeDoc into ./api, builds the site into .vitepress/dist, then checks
 * every link and anchor of the output (check-links.mjs). Everything is local: no web
 * fonts, local search.
 */
export default defineConfig({
  title: "Parley",
  description: "An SDK-first chat platform in TypeScript on Connect-RPC",
  lang: "en-US",
  // Dead links fail the build (the VitePress default); keep it that way.
  ignoreDeadLinks: false,
  srcExclude: ["snippets/**", "README.md"],
  lastUpdated: false,
  markdown: {
    config: (md) => repoLinks(md),
  },
  // The local search index of the API reference is one chunk of about 0.5 MB.
  vite: { build: { chunkSizeWarningLimit: 1024 } },
  themeConfig: {
    nav: [
      { text: "Guide", link: "/guide/quick-start" },
      { text: "Architecture", link: "/architecture" },
      { text: "API", link: "/api/" },
      { text: "Benchmarks", link: "/benchmarks" },
    ],
    sidebar: [
      { text: "Guide", items: guide },
      {
        text: "Design",
        items: [
          { text: "Architecture and invariants", link: "/architecture" },
          { text: "Benchmarks", link: "/benchmarks" },
        ],
      },
      {
        text: "API reference",
        collapsed: true,
        items: [
          { text: "Overview", link: "/api/" },
          ...list.packages.map((name) => ({ text: `@parley/${name}`, link: `/api/@parley/${name}` })),
        ],
      },
    ],
    search: { provider: "local" },
    outline: { level: [2, 3] },
    socialLinks: [{ icon: "github", link: repoUrl }],
  },
});

// TypeDoc: the API reference of the public packages, as Markdown for VitePress.
// `npm run build` writes it to ./api (gitignored); see scripts/typedoc.mjs.
import { OptionDefaults } from "typedoc";

import list from "./api-packages.json" with { type: "json" };

/** The public packages, in the order the reference lists them. */
export const packages = list.packages;

/** Warnings that mean a reference in the docs is broken; `notDocumented` is left off. */
const validation = {
  notExported: true,
  invalidLink: true,
  invalidPath: true,
  rewrittenLink: true,
  notDocumented: false,
  unusedMergeModuleWith: true,
};

/** @type {Partial<import("typedoc").TypeDocOptions & import("typedoc-plugin-markdown").PluginOptions>} */
const config = {
  entryPointStrategy: "packages",
  entryPoints: packages.map((name) => `../packages/${name}`),
  // Each package is converted with these options (the root ones are not inherited).
  packageOptions: {
    entryPoints: ["src/index.ts"],
    // The package READMEs link to sibling folders; the guides cover them instead.
    readme: "none",
    // protoc-gen-es marks generated declarations with @generated.
    blockTags: [...OptionDefaults.blockTags, "@generated"],
    // No public repository URL to link source files to.
    disableSources: true,
    excludePrivate: true,
    excludeInternal: true,
    // Type errors are the packages' own typecheck's to report, not the reference's.
    skipErrorChecking: true,
    validation,
  },
  plugin: ["typedoc-plugin-markdown"],
  out: "api",
  cleanOutputDir: true,
  readme: "none",
  name: "API reference",
  router: "module",
  hideBreadcrumbs: true,
  hidePageHeader: true,
  parametersFormat: "table",
  interfacePropertiesFormat: "table",
  classPropertiesFormat: "table",
  typeDeclarationFormat: "table",
  enumMembersFormat: "table",
  // Escape "<operation>" and the like in comments, which Vue would read as tags.
  sanitizeComments: true,
  entryFileName: "index.md",
  validation,
  logLevel: "Warn",
};

export default config;

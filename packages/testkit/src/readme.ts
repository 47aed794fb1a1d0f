import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** What {@link checkReadmeSnippets} found. */
export interface ReadmeSnippetReport {
  /** How many ```ts snippets the README has. */
  snippets: number;
  /** One line per compiler error in a snippet, "<file>:<line> <message>"; empty when all compile. */
  problems: string[];
}

/**
 * Type-checks every ```ts snippet of a package's README.md against the package
 * itself: each snippet becomes a virtual module in the package's `src/`, compiled
 * with the package's tsconfig.json, so its imports resolve the way the package's
 * own code does. Use it in a test so README examples cannot rot:
 *
 * ```ts
 * const { snippets, problems } = checkReadmeSnippets(new URL("../", import.meta.url));
 * expect(snippets).toBe(2);
 * expect(problems).toEqual([]);
 * ```
 */
export function checkReadmeSnippets(packageDir: URL | string): ReadmeSnippetReport {
  const dir = typeof packageDir === "string" ? packageDir : fileURLToPath(packageDir);
  const readme = readFileSync(join(dir, "README.md"), "utf8");
  const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(dir, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!parsed) throw new Error(`unable to check README snippets; cannot read ${join(dir, "tsconfig.json")}`);
  const files = new Map(snippets.map((text, i) => [join(dir, "src", `readme-snippet-${i + 1}.ts`), text]));
  const options = { ...parsed.options, noEmit: true };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (path) => files.has(path) || fileExists.call(host, path);
  host.readFile = (path) => files.get(path) ?? readFile.call(host, path);
  host.getSourceFile = (path, language, ...rest) => {
    const text = files.get(path);
    return text === undefined
      ? getSourceFile.call(host, path, language, ...rest)
      : ts.createSourceFile(path, text, language, true);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const problems = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file && files.has(d.file.fileName))
    .map((d) => {
      const where = d.file
        ? `${d.file.fileName.slice(dirname(dir).length)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}`
        : "";
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
  return { snippets: snippets.length, problems };
}

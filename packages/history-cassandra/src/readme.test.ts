import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { expect, it } from "vitest";

const PACKAGE_DIR = fileURLToPath(new URL("../", import.meta.url));

it("type-checks the README's TypeScript snippets against the package", () => {
  const readme = readFileSync(join(PACKAGE_DIR, "README.md"), "utf8");
  const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
  expect(snippets.length).toBe(3);

  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(PACKAGE_DIR, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
      },
    },
  );
  if (!parsed) throw new Error("unable to read tsconfig.json");
  // Each snippet is a module inside src/, resolving imports as the package's own code does.
  const snippetFiles = new Map(
    snippets.map((text, i) => [join(PACKAGE_DIR, "src", `readme-snippet-${i}.ts`), text]),
  );
  const options = { ...parsed.options, noEmit: true };
  const host = ts.createCompilerHost(options);
  const original = {
    fileExists: host.fileExists,
    readFile: host.readFile,
    getSourceFile: host.getSourceFile,
  };
  host.fileExists = (path) => snippetFiles.has(path) || original.fileExists.call(host, path);
  host.readFile = (path) => snippetFiles.get(path) ?? original.readFile.call(host, path);
  host.getSourceFile = (path, languageVersion, ...rest) => {
    const text = snippetFiles.get(path);
    return text === undefined
      ? original.getSourceFile.call(host, path, languageVersion, ...rest)
      : ts.createSourceFile(path, text, languageVersion, true);
  };
  const program = ts.createProgram([...snippetFiles.keys()], options, host);
  const problems = ts
    .getPreEmitDiagnostics(program)
    .filter((diagnostic) => diagnostic.file && snippetFiles.has(diagnostic.file.fileName))
    .map((d) => `${d.file?.fileName}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
  expect(problems).toEqual([]);
}, 60_000);

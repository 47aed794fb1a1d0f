import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { expect, it } from "vitest";

const PACKAGE_DIR = fileURLToPath(new URL("../", import.meta.url));

it("type-checks the README's TypeScript snippets", () => {
  const readme = readFileSync(join(PACKAGE_DIR, "README.md"), "utf8");
  const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
  expect(snippets.length).toBe(2);

  const config = ts.getParsedCommandLineOfConfigFile(
    join(PACKAGE_DIR, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
      },
    },
  );
  if (!config) throw new Error("unable to read the package's tsconfig.json");
  // Each snippet is a virtual module in src/, resolving imports as the package's own code does.
  const snippetFiles = new Map(
    snippets.map((text, i) => [join(PACKAGE_DIR, "src", `readme-snippet-${i + 1}.ts`), text]),
  );
  const options = { ...config.options, noEmit: true };
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (path) => snippetFiles.has(path) || fileExists.call(host, path);
  host.readFile = (path) => snippetFiles.get(path) ?? readFile.call(host, path);
  host.getSourceFile = (path, language, ...rest) => {
    const text = snippetFiles.get(path);
    return text === undefined
      ? getSourceFile.call(host, path, language, ...rest)
      : ts.createSourceFile(path, text, language, true);
  };
  const program = ts.createProgram([...snippetFiles.keys()], options, host);
  const problems = ts
    .getPreEmitDiagnostics(program)
    .filter((diagnostic) => diagnostic.file && snippetFiles.has(diagnostic.file.fileName))
    .map(
      (diagnostic) =>
        `${diagnostic.file?.fileName}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")}`,
    );
  expect(problems).toEqual([]);
}, 60_000);

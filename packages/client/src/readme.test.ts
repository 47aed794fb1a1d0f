import { checkReadmeSnippets } from "@parley/testkit/readme";
import { expect, it } from "vitest";

it("type-checks every TypeScript snippet of the README against the package", () => {
  const { snippets, problems } = checkReadmeSnippets(new URL("../", import.meta.url));
  expect(snippets).toBeGreaterThanOrEqual(4);
  expect(problems).toEqual([]);
}, 60_000);

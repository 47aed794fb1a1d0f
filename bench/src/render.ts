/**
 * Re-renders a saved run: prints its table and writes its SVG chart.
 * `node --import tsx src/render.ts <results.json> [chart.svg]`
 */
import { readFileSync, writeFileSync } from "node:fs";
import { chart } from "./chart.js";
import { type BenchResults, report } from "./results.js";

const [input, output] = process.argv.slice(2);
if (!input) {
  process.stderr.write("usage: render <results.json> [chart.svg]\n");
  process.exit(2);
}
const results = JSON.parse(readFileSync(input, "utf8")) as BenchResults;
process.stdout.write(`${report(results)}\n`);
if (output) writeFileSync(output, chart(results));

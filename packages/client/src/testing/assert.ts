import { type DescMessage, equals, type MessageShape, toJson } from "@bufbuild/protobuf";

/**
 * A few assertions for the conformance cases, so they run under any test runner
 * (Vitest in Node, a bundle in Chromium). Internal: not exported from the package.
 */

/** Throws an Error reading "<what>: expected <expected>, got <actual>". */
function fail(what: string, expected: string, actual: string): never {
  throw new Error(`${what}: expected ${expected}, got ${actual}`);
}

/** JSON text of a value, with bigints written as `123n`. */
export function show(value: unknown): string {
  if (value === undefined) return "undefined";
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v));
}

/**
 * Deep equality of plain data (objects, arrays, strings, numbers, bigints, booleans).
 * A property set to `undefined` counts as absent.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    return a.every((byte, i) => byte === b[i]);
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const key of keys) {
    if (!deepEqual(ra[key], rb[key])) return false;
  }
  return true;
}

/** Asserts deep equality of plain data (see {@link deepEqual}). */
export function assertEqual<T>(actual: T, expected: T, what: string): void {
  if (!deepEqual(actual, expected)) fail(what, show(expected), show(actual));
}

/** Asserts two protobuf messages are equal field by field (`equals` from @bufbuild/protobuf). */
export function assertProtoEqual<Desc extends DescMessage>(
  schema: Desc,
  actual: MessageShape<Desc> | undefined,
  expected: MessageShape<Desc>,
  what: string,
): void {
  if (actual === undefined) fail(what, protoText(schema, expected), "nothing");
  if (!equals(schema, actual, expected)) fail(what, protoText(schema, expected), protoText(schema, actual));
}

/** Asserts two lists of protobuf messages are equal, in order. */
export function assertProtoListEqual<Desc extends DescMessage>(
  schema: Desc,
  actual: readonly MessageShape<Desc>[],
  expected: readonly MessageShape<Desc>[],
  what: string,
): void {
  const same =
    actual.length === expected.length &&
    actual.every((item, i) => equals(schema, item, expected[i] as MessageShape<Desc>));
  if (!same) {
    const list = (items: readonly MessageShape<Desc>[]) =>
      `[${items.map((m) => protoText(schema, m)).join(", ")}]`;
    fail(what, list(expected), list(actual));
  }
}

/** Asserts that a promise rejects (with anything). */
export async function assertRejects(promise: Promise<unknown>, what: string): Promise<void> {
  let resolved: { value: unknown } | undefined;
  try {
    resolved = { value: await promise };
  } catch {
    return;
  }
  fail(what, "a rejection", `a result (${show(resolved.value)})`);
}

function protoText<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): string {
  try {
    return JSON.stringify(toJson(schema, message));
  } catch {
    return show(message);
  }
}

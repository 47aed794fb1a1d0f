import type { Client, ClientOptions, QueryOptions, types } from "cassandra-driver";
import cassandra from "cassandra-driver";
import type { CassandraConsistency, ResolvedOptions } from "./options.js";

/** A CQL bigint as the client encodes it: a `Long`, or a `bigint` with `useBigIntAsLong`. */
export type CqlBigint = types.Long | bigint;

/** A connected client with the store's query options (internal). */
export interface Session {
  client: Client;
  /** The keyspace, to qualify table names with. */
  ks: string;
  /** Options of reads: prepared, read consistency, request timeout. */
  read: QueryOptions;
  /** Options of writes: prepared, write consistency, request timeout, idempotent. */
  write: QueryOptions;
  /** Options of lightweight transactions (the migration lock). */
  serial: QueryOptions;
  /** Rows per page of paged reads. */
  pageSize: number;
  /** Encodes a safe integer for a bigint column or `USING TIMESTAMP`. */
  bigint(value: number): CqlBigint;
}

/** The driver's value of a consistency name. */
export function consistencyValue(name: CassandraConsistency): number {
  const c = cassandra.types.consistencies;
  const table: Record<CassandraConsistency, number> = {
    ANY: c.any,
    ONE: c.one,
    TWO: c.two,
    THREE: c.three,
    QUORUM: c.quorum,
    ALL: c.all,
    LOCAL_QUORUM: c.localQuorum,
    EACH_QUORUM: c.eachQuorum,
    LOCAL_ONE: c.localOne,
  };
  return table[name];
}

/** The session for `client` with the resolved options (internal). */
export function createSession(client: Client, options: ResolvedOptions): Session {
  // A client passed in may decode and encode bigint columns as BigInt instead of Long.
  const clientOptions = (client as unknown as { options?: ClientOptions }).options;
  const useBigInt = clientOptions?.encoding?.useBigIntAsLong === true;
  const common: QueryOptions = { prepare: true, readTimeout: options.requestTimeoutMs };
  return {
    client,
    ks: options.keyspace,
    read: { ...common, consistency: consistencyValue(options.readConsistency), isIdempotent: true },
    // Every write carries its own timestamp (USING TIMESTAMP), so repeating one is harmless.
    write: { ...common, consistency: consistencyValue(options.writeConsistency), isIdempotent: true },
    serial: {
      ...common,
      consistency: consistencyValue(options.writeConsistency),
      serialConsistency: cassandra.types.consistencies.serial,
      isIdempotent: false,
    },
    pageSize: options.pageSize,
    bigint: useBigInt ? (value) => BigInt(value) : (value) => cassandra.types.Long.fromNumber(value),
  };
}

/** A row's bigint, int or counter column as a number; undefined when null. */
export function num(value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  if (value instanceof cassandra.types.Long) return value.toNumber();
  throw new TypeError(`expected a number column, got ${typeof value}`);
}

/** A row's blob column as a plain Uint8Array view (no copy). */
export function bytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`expected a blob column, got ${typeof value}`);
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** A Uint8Array as the Buffer the driver encodes blobs from (no copy). */
export function blob(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** The rows of a read, page by page (`pageSize` rows per request), so no read is unbounded. */
export async function* pages(
  session: Session,
  query: string,
  params: unknown[],
  options: QueryOptions = session.read,
): AsyncGenerator<types.Row[]> {
  let pageState: string | undefined;
  do {
    const result = await session.client.execute(query, params, {
      ...options,
      fetchSize: session.pageSize,
      ...(pageState ? { pageState } : {}),
    });
    yield result.rows;
    pageState = result.pageState ?? undefined;
  } while (pageState);
}

/** Every row of a read, fetched page by page. */
export async function allRows(
  session: Session,
  query: string,
  params: unknown[],
  options: QueryOptions = session.read,
): Promise<types.Row[]> {
  const rows: types.Row[] = [];
  for await (const page of pages(session, query, params, options)) rows.push(...page);
  return rows;
}

/** Runs `work` for each item with at most `limit` running at once; rejects with the first failure. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** `work` of each item, in order, with at most `limit` running at once. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  await forEachLimit(items, limit, async (item, index) => {
    results[index] = await work(item);
  });
  return results;
}

const encoder = new TextEncoder();

/**
 * Kafka's 32-bit murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`), as a
 * signed 32-bit integer, over the given bytes.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k =
      (data[i] as number) |
      ((data[i + 1] as number) << 8) |
      ((data[i + 2] as number) << 16) |
      ((data[i + 3] as number) << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= (data[whole + 2] as number) << 16;
  if (rest >= 2) h ^= (data[whole + 1] as number) << 8;
  if (rest >= 1) {
    h ^= data[whole] as number;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * The partition for a record key: Kafka's default partitioner for keyed records,
 * `(murmur2(utf8(key)) & 0x7fffffff) % partitions`. It depends only on the key and
 * the partition count, so it is the same in every process, and a key maps to the
 * same partition number in the in-process log as in Kafka (Java client and kafkajs'
 * default partitioner).
 *
 * @param key - the record key; hashed as UTF-8.
 * @param partitions - the topic's partition count, a positive integer.
 * @returns an integer in `[0, partitions)`.
 */
export function partitionForKey(key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new RangeError(
      `unable to choose a partition; partition count must be a positive integer, got ${partitions}`,
    );
  }
  return (murmur2(encoder.encode(key)) & 0x7fffffff) % partitions;
}

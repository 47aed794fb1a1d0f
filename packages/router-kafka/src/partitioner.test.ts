import { partitionForKey } from "@parley/router";
import kafkajs, { type PartitionMetadata } from "kafkajs";
import { describe, expect, it } from "vitest";

/** Where a kafkajs partitioner puts a keyed message on a topic with `partitions` partitions. */
function kafkajsPartition(create: kafkajs.ICustomPartitioner, key: string, partitions: number): number {
  const partitionMetadata: PartitionMetadata[] = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
  }));
  return create()({ topic: "t", partitionMetadata, message: { key, value: null } });
}

const KEYS = [
  "",
  "a",
  "ab",
  "abc",
  "abcd",
  "conversation/42",
  "user-01HZX3KQ9V8Y",
  "ключ-🙂",
  "日本語のキー",
  "x".repeat(257),
  ...Array.from({ length: 300 }, (_, i) => `conversation-${i * 7919}`),
];

describe("partitioning agrees with kafkajs", () => {
  it("puts every key where kafkajs's DefaultPartitioner (the Java client's murmur2 partitioner) does", () => {
    for (const partitions of [1, 2, 3, 4, 8, 12, 64]) {
      for (const key of KEYS) {
        expect(partitionForKey(key, partitions), `${key} over ${partitions}`).toBe(
          kafkajsPartition(kafkajs.Partitioners.DefaultPartitioner, key, partitions),
        );
      }
    }
  });

  it("differs from kafkajs's LegacyPartitioner (the v1 default), which the log must not use", () => {
    const differing = KEYS.filter(
      (key) => partitionForKey(key, 8) !== kafkajsPartition(kafkajs.Partitioners.LegacyPartitioner, key, 8),
    );
    expect(differing.length).toBeGreaterThan(0);
  });
});

/** Names and partition counts of the topics Parley's pipeline uses. */
export interface TopicConfig {
  /** Conversation commands, keyed by conversation id. @defaultValue "parley.commands" */
  commands: string;
  /** Per-user events, keyed by user id. @defaultValue "parley.inbox" */
  inbox: string;
  /** Partitions of the commands topic. @defaultValue 8 */
  commandPartitions: number;
  /** Partitions of the inbox topic. @defaultValue 8 */
  inboxPartitions: number;
}

/** The default topic layout. */
export const DEFAULT_TOPICS: TopicConfig = {
  commands: "parley.commands",
  inbox: "parley.inbox",
  commandPartitions: 8,
  inboxPartitions: 8,
};

import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { ConsumeOptions, EventLog } from "@parley/router";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one reference-server process, served at `/metrics`. */
export interface ServerMetrics {
  readonly registry: Registry;
  /** Counts and times Connect calls by method and code (`parley_rpc_*`). */
  readonly interceptor: Interceptor;
  /** Wraps an event log so appends, consumed records and handler calls are counted (`parley_log_*`). */
  instrumentLog(log: EventLog): EventLog;
  /** Reports a dependency check result (`parley_dependency_up`). */
  dependencyUp(name: string, up: boolean): void;
  /** The exposition text and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** `InvalidArgument` → `invalid_argument`, the names Connect uses on the wire. */
function codeName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/**
 * Creates the process's metrics: Node's default process metrics (RSS, CPU, event-loop
 * lag, GC), RPCs, event-log traffic, partitions owned, open device streams and
 * dependency health.
 */
export function createServerMetrics(options: { role: string; streams?: () => number }): ServerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ role: options.role });
  collectDefaultMetrics({ register: registry });

  const rpcs = new Counter({
    name: "parley_rpc_total",
    help: "Connect calls finished, by method and code (streams count when they end)",
    labelNames: ["method", "code"],
    registers: [registry],
  });
  const rpcSeconds = new Histogram({
    name: "parley_rpc_duration_seconds",
    help: "Duration of unary Connect calls",
    labelNames: ["method"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const streams = options.streams;
  if (streams) {
    new Gauge({
      name: "parley_streams_open",
      help: "Live device streams held by this process",
      registers: [registry],
      collect() {
        this.set(streams());
      },
    });
  }
  const appended = new Counter({
    name: "parley_log_appended_records_total",
    help: "Records appended to the event log, by topic",
    labelNames: ["topic"],
    registers: [registry],
  });
  const consumed = new Counter({
    name: "parley_log_consumed_records_total",
    help: "Records handled from the event log, by topic",
    labelNames: ["topic"],
    registers: [registry],
  });
  const handlerErrors = new Counter({
    name: "parley_log_handler_errors_total",
    help: "Handler calls that failed and will be redelivered, by topic",
    labelNames: ["topic"],
    registers: [registry],
  });
  const handlerSeconds = new Histogram({
    name: "parley_log_handler_duration_seconds",
    help: "Duration of one handler call over a batch of records, by topic",
    labelNames: ["topic"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  const owned = new Gauge({
    name: "parley_log_partitions_owned",
    help: "Partitions of a topic this process consumes now",
    labelNames: ["topic"],
    registers: [registry],
  });
  const dependency = new Gauge({
    name: "parley_dependency_up",
    help: "1 when the last readiness check of the dependency passed",
    labelNames: ["dependency"],
    registers: [registry],
  });

  const interceptor: Interceptor = (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const start = process.hrtime.bigint();
    try {
      const res = await next(req);
      if (res.stream) {
        // Counted when the stream ends, with the code it ended with.
        const messages = res.message;
        return {
          ...res,
          message: (async function* () {
            let code = "ok";
            try {
              yield* messages;
            } catch (err) {
              code = codeName(ConnectError.from(err).code);
              throw err;
            } finally {
              rpcs.inc({ method, code });
            }
          })(),
        };
      }
      rpcs.inc({ method, code: "ok" });
      rpcSeconds.observe({ method }, Number(process.hrtime.bigint() - start) / 1e9);
      return res;
    } catch (err) {
      rpcs.inc({ method, code: codeName(ConnectError.from(err).code) });
      if (!req.stream) rpcSeconds.observe({ method }, Number(process.hrtime.bigint() - start) / 1e9);
      throw err;
    }
  };

  return {
    registry,
    interceptor,
    instrumentLog(log) {
      return {
        ensureTopic: (topic, partitions) => log.ensureTopic(topic, partitions),
        partitionFor: (topic, key) => log.partitionFor(topic, key),
        async append(topic, records) {
          const result = await log.append(topic, records);
          appended.inc({ topic }, records.length);
          return result;
        },
        consume(consume: ConsumeOptions) {
          const { topic } = consume;
          return log.consume({
            ...consume,
            async handler(records) {
              const end = handlerSeconds.startTimer({ topic });
              try {
                await consume.handler(records);
              } catch (err) {
                handlerErrors.inc({ topic });
                throw err;
              } finally {
                end();
              }
              consumed.inc({ topic }, records.length);
            },
            onAssignment(partitions) {
              owned.set({ topic }, partitions.length);
              consume.onAssignment?.(partitions);
            },
          });
        },
        close: () => log.close(),
      };
    },
    dependencyUp(name, up) {
      dependency.set({ dependency: name }, up ? 1 : 0);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

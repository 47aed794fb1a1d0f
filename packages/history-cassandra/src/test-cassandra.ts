/**
 * Test support (not exported by the package): where the shared Cassandra is, unique
 * keyspaces, a client that fails chosen statements (a crash between two writes),
 * and TCP stand-ins for a node that is down or hangs.
 */
import { randomUUID } from "node:crypto";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import cassandra, { type Client } from "cassandra-driver";

/** The shared Cassandra (`bash scripts/services.sh start cassandra`); the PARLEY_* variables override it. */
export const CASSANDRA = {
  contactPoints: (process.env.PARLEY_CASSANDRA_CONTACT_POINTS ?? "127.0.0.1:9042").split(","),
  localDataCenter: process.env.PARLEY_CASSANDRA_DATACENTER ?? "datacenter1",
};

/** A keyspace name no other run uses. */
export function uniqueKeyspace(label: string): string {
  return `parley_test_${label}_${randomUUID().replaceAll("-", "").slice(0, 10)}`;
}

/** A client of the shared Cassandra (connected). */
export async function connectClient(): Promise<Client> {
  const client = new cassandra.Client({ ...CASSANDRA, socketOptions: { readTimeout: 30_000 } });
  await client.connect();
  return client;
}

/** Drops the keyspaces (ignoring ones that do not exist). */
export async function dropKeyspaces(client: Client, keyspaces: string[]): Promise<void> {
  for (const ks of keyspaces) await client.execute(`DROP KEYSPACE IF EXISTS ${ks}`);
}

/**
 * `client`, except that statements whose CQL matches `fails` (alone or in a batch)
 * reject with a driver timeout, as if the process died (or Cassandra stopped
 * answering) right before them.
 */
export function failingClient(client: Client, fails: (query: string) => boolean): Client {
  const timeout = () => Promise.reject(new cassandra.errors.OperationTimedOutError("injected failure"));
  return new Proxy(client, {
    get(target, property) {
      if (property === "execute") {
        return (query: string, params?: unknown, options?: unknown) =>
          fails(query) ? timeout() : target.execute(query, params as never, options as never);
      }
      if (property === "batch") {
        return (queries: { query: string }[], options?: unknown) =>
          queries.some((q) => fails(q.query)) ? timeout() : target.batch(queries, options as never);
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A TCP endpoint for a contact point, and how to stop it. */
export interface TcpStandIn {
  readonly address: string;
  close(): Promise<void>;
}

async function listen(server: Server, port = 0): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return `127.0.0.1:${address.port}`;
}

function closer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  return async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** A node that accepts connections and never answers (a hung process or a black hole). */
export async function startSilentNode(): Promise<TcpStandIn> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  return { address: await listen(server), close: closer(server, sockets) };
}

/** A TCP proxy to the shared Cassandra that can stop forwarding (a network partition). */
export interface CassandraProxy extends TcpStandIn {
  /** Holds every byte in both directions until `resume()`. */
  freeze(): void;
  resume(): void;
}

/** Starts a proxy to the first shared contact point, on `listenPort` (any free one by default). */
export async function startProxy(listenPort = 0): Promise<CassandraProxy> {
  const [host, port] = (CASSANDRA.contactPoints[0] as string).split(":");
  const sockets = new Set<Socket>();
  let frozen = false;
  const held: [Socket, Buffer][] = [];
  const forward = (to: Socket, chunk: Buffer) => {
    if (frozen) held.push([to, chunk]);
    else to.write(chunk);
  };
  const server = createServer((inbound) => {
    const outbound = createConnection({ host: host as string, port: Number(port ?? 9042) });
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("error", () => {
        inbound.destroy();
        outbound.destroy();
      });
      socket.on("close", () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.on("data", (chunk: Buffer) => forward(outbound, chunk));
    outbound.on("data", (chunk: Buffer) => forward(inbound, chunk));
  });
  return {
    address: await listen(server, listenPort),
    close: closer(server, sockets),
    freeze() {
      frozen = true;
    },
    resume() {
      frozen = false;
      for (const [to, chunk] of held.splice(0)) if (!to.destroyed) to.write(chunk);
    },
  };
}

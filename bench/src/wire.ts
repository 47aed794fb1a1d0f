/**
 * A minimal Connect-protocol client (binary protobuf over HTTP/1.1) for the load
 * generator. The SDK's transport (connect-node) would work too, but it costs more
 * memory and CPU per stream than the server it is measuring; this client does the
 * same wire protocol with nothing else: unary calls are `POST /<service>/<method>`
 * with `application/proto`, a server stream is one `POST` with
 * `application/connect+proto` whose response body is a sequence of envelopes
 * (1 flag byte, 4-byte big-endian length, message) ending with an end-stream
 * envelope (flag 0x02, JSON).
 *
 * Every simulated device holds its own TCP connection, as a browser tab does:
 * the reference server speaks HTTP/1.1 only, so there is no multiplexing to use.
 */
import { Agent, request } from "node:http";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { fromBinary, toBinary } from "@bufbuild/protobuf";

/** A Connect error as the client sees it. */
export class WireError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "WireError";
  }
}

/** Where calls go: the server's base URL and the source addresses to spread connections over. */
export interface WireTarget {
  host: string;
  port: number;
  /** Loopback source addresses (127.0.0.2, ...); each gives its own ~28k ephemeral ports. */
  localAddresses: string[];
}

/** Parses `http://host:port`. */
export function parseBaseUrl(baseUrl: string): { host: string; port: number } {
  const url = new URL(baseUrl);
  return { host: url.hostname, port: Number(url.port || 80) };
}

/** Pooled keep-alive agents for unary calls, one per source address. */
export class UnaryPool {
  private readonly agents: Agent[];
  private next = 0;

  constructor(
    private readonly target: WireTarget,
    socketsPerAddress: number,
  ) {
    this.agents = target.localAddresses.map(
      (localAddress) =>
        new Agent({ keepAlive: true, maxSockets: socketsPerAddress, localAddress } as ConstructorParameters<
          typeof Agent
        >[0]),
    );
  }

  /** One unary Connect call; resolves with the decoded response. */
  call<I extends DescMessage, O extends DescMessage>(
    path: string,
    input: I,
    output: O,
    message: MessageShape<I>,
    token: string,
  ): Promise<MessageShape<O>> {
    const body = toBinary(input, message);
    const agent = this.agents[this.next++ % this.agents.length];
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.target.host,
          port: this.target.port,
          method: "POST",
          path,
          agent,
          headers: {
            "content-type": "application/proto",
            "connect-protocol-version": "1",
            "content-length": body.length,
            authorization: `Bearer ${token}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const buf = Buffer.concat(chunks);
            if (res.statusCode !== 200) {
              let code = `http_${res.statusCode}`;
              let msg = buf.toString("utf8").slice(0, 300);
              try {
                const j = JSON.parse(msg) as { code?: string; message?: string };
                code = j.code ?? code;
                msg = j.message ?? msg;
              } catch {
                // not JSON
              }
              reject(new WireError(code, msg));
              return;
            }
            try {
              resolve(fromBinary(output, buf));
            } catch (err) {
              reject(err);
            }
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  close(): void {
    for (const a of this.agents) a.destroy();
  }
}

/** Callbacks of a server stream. */
export interface StreamHandlers<O extends DescMessage> {
  /** Each decoded message. */
  onMessage(message: MessageShape<O>): void;
  /** The stream ended: `error` is undefined for a clean end, a {@link WireError} or socket error otherwise. */
  onEnd(error: Error | undefined): void;
}

/** An open server stream; `close()` aborts it. */
export interface OpenStream {
  close(): void;
}

/**
 * Opens one server-streaming Connect call on its own TCP connection from
 * `localAddress`. Resolves once the response headers arrived (the server accepted
 * the stream), rejects when the connection or the headers fail.
 */
export function openStream<I extends DescMessage, O extends DescMessage>(
  target: WireTarget,
  localAddress: string,
  path: string,
  input: I,
  output: O,
  message: MessageShape<I>,
  token: string,
  handlers: StreamHandlers<O>,
  timeoutMs = 30_000,
): Promise<OpenStream> {
  const payload = toBinary(input, message);
  const envelope = Buffer.allocUnsafe(5 + payload.length);
  envelope[0] = 0;
  envelope.writeUInt32BE(payload.length, 1);
  envelope.set(payload, 5);
  return new Promise((resolve, reject) => {
    let settled = false;
    let ended = false;
    const end = (err: Error | undefined) => {
      if (ended) return;
      ended = true;
      handlers.onEnd(err);
    };
    const req = request({
      host: target.host,
      port: target.port,
      method: "POST",
      path,
      agent: false,
      localAddress,
      headers: {
        "content-type": "application/connect+proto",
        "connect-protocol-version": "1",
        "content-length": envelope.length,
        authorization: `Bearer ${token}`,
      },
    });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(new WireError("deadline_exceeded", `no response headers within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        reject(err);
      } else end(err);
    });
    req.on("response", (res) => {
      clearTimeout(timer);
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          settled = true;
          reject(
            new WireError(`http_${res.statusCode}`, Buffer.concat(chunks).toString("utf8").slice(0, 300)),
          );
        });
        return;
      }
      settled = true;
      resolve({ close: () => req.destroy() });
      let pending: Buffer = Buffer.alloc(0);
      res.on("data", (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        let offset = 0;
        while (pending.length - offset >= 5) {
          const flags = pending[offset] as number;
          const len = pending.readUInt32BE(offset + 1);
          if (pending.length - offset - 5 < len) break;
          const body = pending.subarray(offset + 5, offset + 5 + len);
          offset += 5 + len;
          if (flags & 0x02) {
            let err: Error | undefined;
            try {
              const j = JSON.parse(body.toString("utf8")) as { error?: { code?: string; message?: string } };
              if (j.error) err = new WireError(j.error.code ?? "unknown", j.error.message ?? "");
            } catch {
              err = new WireError("internal", "undecodable end-stream envelope");
            }
            end(err);
          } else {
            try {
              handlers.onMessage(fromBinary(output, body));
            } catch (e) {
              end(e instanceof Error ? e : new Error(String(e)));
              req.destroy();
              return;
            }
          }
        }
        pending = offset === pending.length ? Buffer.alloc(0) : pending.subarray(offset);
      });
      res.on("end", () => end(undefined));
      res.on("error", (err) => end(err));
      res.on("close", () => end(new WireError("unavailable", "connection closed")));
    });
    req.end(envelope);
  });
}

/** `count` loopback source addresses starting at 127.0.0.2. */
export function loopbackAddresses(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 2}`);
}

import type { IncomingMessage, ServerResponse } from "node:http";
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescMethodServerStreaming,
  type DescService,
  isMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextKey,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
} from "@connectrpc/connect";
import {
  createMethodSerializationLookup,
  encodeEnvelope,
  validateReadWriteMaxBytes,
} from "@connectrpc/connect/protocol";
import {
  createEndStreamSerialization,
  endStreamFlag,
  parseContentType,
} from "@connectrpc/connect/protocol-connect";
import { SyncService } from "@parley/protocol";
import type { ParleyDeps } from "./deps.js";
import { syncService } from "./services/sync-service.js";

/** The largest request message the lean path reads (a SubscribeRequest is a few hundred bytes). */
const MAX_REQUEST_BYTES = 64 * 1024;

/** Options for {@link createLeanStreamHandler}. */
export interface LeanStreamHandlerOptions {
  /** The interceptors of the Connect routes, outermost first (the same list given to `connectNodeAdapter`). */
  interceptors?: Interceptor[];
}

/**
 * Serves a request, or returns false when it is not one the lean path takes (the
 * caller passes it on to `connectNodeAdapter`).
 */
export type LeanStreamHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * A lean HTTP/1.1 handler for `SyncService.Subscribe` in the Connect protocol
 * (`application/connect+proto` and `+json`), to put in front of `connectNodeAdapter`
 * on a Node `http` server: the same service implementation and interceptors, but
 * without connect-node's per-request pipeline of async iterables, which costs
 * about 48 KB of memory per open stream (a device stream is held for hours).
 *
 * It takes only what it serves exactly as connect-node does: a POST of one
 * uncompressed enveloped request without `connect-timeout-ms`. Everything else
 * (other methods, gRPC, gRPC-web, compressed or deadline-bound streams) returns
 * false, for `connectNodeAdapter` to serve. Responses are not compressed.
 *
 * @example
 * ```ts
 * const interceptors = parleyInterceptors(deps);
 * const lean = createLeanStreamHandler(deps, { interceptors });
 * const connect = connectNodeAdapter({ routes: createParleyRoutes(deps), interceptors });
 * createServer((req, res) => lean(req, res) || connect(req, res));
 * ```
 */
export function createLeanStreamHandler(
  deps: ParleyDeps,
  options: LeanStreamHandlerOptions = {},
): LeanStreamHandler {
  const method = SyncService.method.subscribe;
  const service = syncService(deps);
  return createServerStreamHandler(
    method,
    (req, ctx) => service.subscribe(req, ctx),
    options.interceptors ?? [],
  );
}

function createServerStreamHandler<I extends DescMessage, O extends DescMessage>(
  method: DescMethodServerStreaming<I, O>,
  impl: (req: MessageShape<I>, ctx: HandlerContext) => AsyncIterable<MessageInitShape<O>>,
  interceptors: Interceptor[],
): LeanStreamHandler {
  const path = `/${method.parent.typeName}/${method.name}`;
  const serialization = createMethodSerializationLookup(
    method,
    undefined,
    undefined,
    validateReadWriteMaxBytes(undefined, undefined, undefined),
  );
  const endStream = createEndStreamSerialization(undefined);
  /** The interceptor chain around the implementation, for one call. */
  const chain = (context: HandlerContext) =>
    intercepted(interceptors, async (req: StreamRequest<I, O>): Promise<StreamResponse<I, O>> => {
      let input: MessageShape<I> | undefined;
      for await (const message of req.message) input = message;
      // As connect does: the implementation sees what interceptors changed in the request.
      const ctx =
        req.header === context.requestHeader &&
        req.signal === context.signal &&
        req.contextValues === context.values
          ? context
          : (Object.create(context, {
              requestHeader: { value: req.header },
              signal: { value: req.signal },
              values: { value: req.contextValues },
            }) as HandlerContext);
      return {
        stream: true,
        service: method.parent,
        method,
        header: context.responseHeader,
        trailer: context.responseTrailer,
        message: impl(input as MessageShape<I>, ctx) as AsyncIterable<MessageShape<O>>,
      };
    });

  return (req, res) => {
    if (req.method !== "POST" || req.url !== path || req.httpVersionMajor !== 1) return false;
    // From rawHeaders: reading req.headers would build an object the request keeps for good.
    const type = parseContentType(rawHeader(req, "content-type") ?? null);
    if (!type?.stream) return false;
    const encoding = rawHeader(req, "connect-content-encoding");
    if (
      (encoding !== undefined && encoding !== "identity") ||
      rawHeader(req, "connect-timeout-ms") !== undefined
    ) {
      return false;
    }
    void serve(req, res, type.binary);
    return true;
  };

  async function serve(req: IncomingMessage, res: ServerResponse, binary: boolean): Promise<void> {
    const context = new LeanContext(method, req, binary);
    const onClose = () => context.abort(new ConnectError("the client closed the stream", Code.Canceled));
    res.once("close", onClose);
    let error: ConnectError | undefined;
    let headSent = false;
    const sendHead = () => {
      if (headSent) return;
      headSent = true;
      res.writeHead(200, context.responseHeaderRecord());
    };
    try {
      const input = await readRequest(req, binary);
      const response = await chain(context)({
        stream: true,
        service: method.parent,
        method,
        requestMethod: "POST",
        url: context.url,
        signal: context.signal,
        header: context.requestHeader,
        contextValues: context.values,
        message: oneMessage(input),
      });
      const output = serialization.getO(binary);
      for await (const message of response.message) {
        if (context.signal.aborted) break;
        const bytes = output.serialize(
          isMessage(message, method.output) ? message : create(method.output, message as MessageInitShape<O>),
        );
        sendHead();
        if (!res.write(encodeEnvelope(0, bytes))) await drained(res, context.signal);
      }
      if (response.trailer !== context.responseTrailer) {
        response.trailer.forEach((value: string, key: string) => {
          context.responseTrailer.set(key, value);
        });
      }
    } catch (err) {
      error =
        err instanceof ConnectError
          ? err
          : new ConnectError("internal error", Code.Internal, undefined, undefined, err);
    } finally {
      res.off("close", onClose);
      context.abort();
    }
    if (res.destroyed || res.writableEnded) return;
    sendHead();
    res.end(encodeEnvelope(endStreamFlag, endStream.serialize({ metadata: context.responseTrailer, error })));
  }

  /** The one enveloped request message. */
  async function readRequest(req: IncomingMessage, binary: boolean): Promise<MessageShape<I>> {
    const body = await readBody(req);
    if (body.length < 5) {
      throw new ConnectError(
        "protocol error: missing input message for server-streaming method",
        Code.Unimplemented,
      );
    }
    const flags = body[0] as number;
    const size = body.readUInt32BE(1);
    if (flags !== 0 || body.length !== 5 + size) {
      throw new ConnectError(
        flags !== 0
          ? "protocol error: received a compressed or unexpected envelope"
          : "protocol error: the request is not exactly one enveloped message",
        Code.InvalidArgument,
      );
    }
    return serialization.getI(binary).parse(body.subarray(5));
  }
}

/** The first value of a request header (`name` in lower case). */
function rawHeader(req: IncomingMessage, name: string): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}

/** {@link ContextValues} with its methods on a prototype (connect's has three closures per call). */
class Values implements ContextValues {
  private map: Map<symbol, unknown> | undefined;
  get<T>(key: ContextKey<T>): T {
    return this.map?.has(key.id) ? (this.map.get(key.id) as T) : key.defaultValue;
  }
  set<T>(key: ContextKey<T>, value: T): this {
    this.map ??= new Map();
    this.map.set(key.id, value);
    return this;
  }
  delete(key: ContextKey<unknown>): this {
    this.map?.delete(key.id);
    return this;
  }
}

/**
 * The handler context of a lean stream: what connect's `createHandlerContext` gives,
 * with one abort controller (no deadline: such requests go to connect-node), one copy
 * of the request headers, and response headers and trailers made only when used.
 */
class LeanContext implements HandlerContext {
  readonly protocolName = "connect";
  readonly requestMethod = "POST";
  readonly requestHeader = new Headers();
  readonly values: ContextValues = new Values();
  private readonly controller = new AbortController();
  private header: Headers | undefined;
  private trailer: Headers | undefined;
  private readonly host: string;

  constructor(
    readonly method: DescMethod,
    req: IncomingMessage,
    private readonly binary: boolean,
  ) {
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2)
      this.requestHeader.append(raw[i] as string, raw[i + 1] as string);
    this.host = this.requestHeader.get("host") ?? "localhost";
  }

  get service(): DescService {
    return this.method.parent;
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  get url(): string {
    return `http://${this.host}/${this.method.parent.typeName}/${this.method.name}`;
  }
  get responseHeader(): Headers {
    this.header ??= new Headers({ "content-type": this.contentType() });
    return this.header;
  }
  get responseTrailer(): Headers {
    this.trailer ??= new Headers();
    return this.trailer;
  }
  timeoutMs(): number | undefined {
    return undefined;
  }
  abort(reason?: unknown): void {
    this.controller.abort(reason);
  }
  /** The response headers for `writeHead`. */
  responseHeaderRecord(): Record<string, string> {
    if (!this.header) return { "content-type": this.contentType() };
    const record: Record<string, string> = {};
    this.header.forEach((value, key) => {
      record[key] = value;
    });
    return record;
  }
  private contentType(): string {
    return this.binary ? "application/connect+proto" : "application/connect+json";
  }
}

/** `next` wrapped in `interceptors`, the first outermost (as connect applies them). */
function intercepted<I extends DescMessage, O extends DescMessage>(
  interceptors: Interceptor[],
  next: (req: StreamRequest<I, O>) => Promise<StreamResponse<I, O>>,
): (req: StreamRequest<I, O>) => Promise<StreamResponse<I, O>> {
  let fn = next as unknown as Parameters<Interceptor>[0];
  for (let i = interceptors.length - 1; i >= 0; i--) fn = (interceptors[i] as Interceptor)(fn);
  return fn as unknown as (req: StreamRequest<I, O>) => Promise<StreamResponse<I, O>>;
}

/** An async iterable of one message. */
async function* oneMessage<T>(message: T): AsyncIterable<T> {
  yield message;
}

/** The request body; its listeners are removed once it ended (the request lives as long as the stream). */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length <= 5 + MAX_REQUEST_BYTES) chunks.push(chunk);
    };
    const done = (err?: Error) => {
      req.off("data", onData);
      req.off("end", done);
      req.off("error", done);
      if (err) reject(err);
      else if (length > 5 + MAX_REQUEST_BYTES) {
        reject(
          new ConnectError(
            `message size ${length - 5} is larger than configured readMaxBytes ${MAX_REQUEST_BYTES}`,
            Code.ResourceExhausted,
          ),
        );
      } else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    };
    req.on("data", onData);
    req.once("end", done);
    req.once("error", done);
  });
}

/** Resolves once `res` drained (or the stream was aborted). */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    res.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

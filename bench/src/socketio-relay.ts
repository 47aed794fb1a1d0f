/**
 * The comparison: a minimal Socket.IO relay, what a Node developer would write
 * for 1:1 chat without Parley. WebSocket transport only, the token verified once
 * at the handshake (HS256, like Parley's), every socket joins a room named after
 * its user, and `send {to, text}` is emitted to that room and acknowledged. No
 * persistence, no ordering, no resume, no receipts: it is the lower bound of
 * what delivery costs in Node.
 *
 * Run as its own process: `PORT=0 BENCH_JWT_SECRET=... node --import tsx src/socketio-relay.ts`;
 * prints `listening <port>` on stdout once ready.
 */
import { createServer } from "node:http";
import { jwtVerify } from "jose";
import { Server } from "socket.io";

const secret = new TextEncoder().encode(process.env.BENCH_JWT_SECRET ?? "");
const http = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "ok", sockets: io.engine.clientsCount }));
    return;
  }
  res.writeHead(404).end();
});
const io = new Server(http, { transports: ["websocket"], serveClient: false, perMessageDeflate: false });

io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: string }).token ?? "";
  jwtVerify(token, secret, { issuer: "parley", audience: "parley", algorithms: ["HS256"] }).then(
    ({ payload }) => {
      socket.data.userId = payload.sub;
      next();
    },
    () => next(new Error("unauthenticated")),
  );
});

io.on("connection", (socket) => {
  const userId = socket.data.userId as string;
  void socket.join(userId);
  socket.on("send", (m: { to: string; text: string }, ack?: (err: unknown) => void) => {
    io.to(m.to).emit("msg", { from: userId, text: m.text });
    ack?.(null);
  });
});

http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const address = http.address();
  process.stdout.write(`listening ${typeof address === "object" && address ? address.port : 0}\n`);
});
process.on("SIGTERM", () => {
  io.close();
  process.exit(0);
});

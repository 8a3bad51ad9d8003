// A peer built on Node's `ws` package, driven by TestPeerNodeWS: against an
// echo server it sends text and binary messages (one of them fragmented),
// pings with a payload, checks every echo and pong byte for byte, then
// closes with 1000 and expects the server's echo of that code.
import WebSocket from "ws";

const url = process.argv[2];
const fail = (msg) => {
  console.error("ws peer: " + msg);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 30000).unref();

const ws = new WebSocket(url, { perMessageDeflate: false });
const expected = [];
let pongWant = null;

const sizes = [0, 1, 125, 126, 65535, 65536, 200000];
const text = (n) => "é".repeat(n >> 1) + (n & 1 ? "x" : "");
const bin = (n) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31) & 0xff;
  return b;
};

ws.on("open", () => {
  for (const n of sizes) {
    const t = text(n);
    expected.push({ binary: false, data: Buffer.from(t) });
    ws.send(t);
    const b = bin(n);
    expected.push({ binary: true, data: b });
    ws.send(b, { binary: true });
  }
  // One message in three fragments.
  expected.push({ binary: false, data: Buffer.from("fragmented message") });
  ws.send("fragm", { fin: false });
  ws.send("ented ", { fin: false });
  ws.send("message", { fin: true });
});

let got = 0;
ws.on("message", (data, isBinary) => {
  const want = expected[got++];
  if (!want) fail("unexpected message");
  if (want.binary !== isBinary) fail(`message ${got}: binary ${isBinary}, want ${want.binary}`);
  if (!Buffer.from(data).equals(want.data)) fail(`message ${got}: ${data.length} bytes differ from the ${want.data.length} sent`);
  if (got === expected.length) {
    pongWant = Buffer.from("ping-payload-" + Date.now());
    ws.ping(pongWant);
  }
});

ws.on("pong", (data) => {
  if (!pongWant || !Buffer.from(data).equals(pongWant)) fail(`pong ${data} does not match the ping`);
  ws.close(1000, "done");
});

ws.on("close", (code) => {
  if (code !== 1000) fail(`closed with ${code}, want 1000`);
  if (got !== expected.length) fail(`closed after ${got} of ${expected.length} messages`);
  console.log(`ws peer: ${got} messages, pong and close ok`);
  process.exit(0);
});

ws.on("error", (err) => fail(err.message));

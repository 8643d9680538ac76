// The seed frontend's use of Socket.IO, as a script: connect as its page does
// (`io(url, {transports, upgrade: true})`), start a tail, print every event as a JSON line,
// stop after N lines and exit when the gateway says the tail stopped.
//
// [ORIGIN=http://site] node client.mjs BASE TRANSPORTS HOST PATH NAME N [TOKEN]
//   TRANSPORTS: "polling", "websocket" or "polling,websocket" (the seed's: starts on polling,
//   upgrades to websocket)
import { io } from "socket.io-client";

const [base, transports, host, path, name, n, token] = process.argv.slice(2);
const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const socket = io(base, {
  transports: transports.split(","),
  upgrade: true,
  reconnection: false,
  ...(token ? { query: { access_token: token } } : {}),
  // A browser on another site would send its own Origin (ORIGIN= sets one, as it would).
  ...(process.env.ORIGIN ? { extraHeaders: { Origin: process.env.ORIGIN } } : {}),
});
let lines = 0;
let stopping = false;

socket.on("connect", () => {
  print({ event: "connect", transport: socket.io.engine.transport.name });
  socket.emit("start_tail_f", { cvm_ip: host, log_path: path, log_name: name });
});
socket.on("connect_error", (e) => {
  print({ event: "connect_error", message: e.message, description: String(e.description ?? "") });
  process.exit(2);
});
socket.on("log", (data) => {
  print({ event: "log", data });
  lines++;
  if (lines === Number(n) && !stopping) {
    stopping = true;
    socket.emit("stop_tail_f");
  }
});
socket.on("tail_f_status", (data) => {
  print({ event: "tail_f_status", data });
  if (stopping && data.status === "stopped") {
    print({ event: "done", transport: socket.io.engine.transport.name });
    socket.disconnect();
    process.exit(0);
  }
  if (data.status === "error" && !stopping) {
    print({ event: "done", transport: socket.io.engine.transport.name });
    socket.disconnect();
    process.exit(0);
  }
});
setTimeout(() => { print({ event: "timeout", lines }); process.exit(3); }, 30000);

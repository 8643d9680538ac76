// The overview page: broker connection and every stream with its consumers, from /status.
import { api, el, formatBytes } from "./app.js";

async function refresh() {
  const broker = document.getElementById("broker");
  const tbody = document.querySelector("#streams tbody");
  try {
    const s = await api("/status");
    broker.className = s.broker.connected ? "ok" : "error";
    broker.textContent = s.broker.connected
      ? `connected to ${s.broker.server} (nats-server ${s.broker.version})`
      : `not connected (${s.broker.state})`;
    if (s.error) broker.textContent += ` — ${s.error}`;
    tbody.replaceChildren(...s.streams.map((st) => el("tr", { "data-stream": st.name },
      el("td", {}, st.name),
      el("td", { class: "mono" }, st.subjects.join(" ")),
      el("td", { class: "num" }, st.messages.toLocaleString()),
      el("td", { class: "num" }, formatBytes(st.bytes)),
      el("td", { class: "mono" }, st.consumers.map((c) => `${c.name} (${c.pending} / ${c.redelivered})`).join(", ") || "—"),
    )));
  } catch (e) {
    broker.className = "error";
    broker.textContent = `cannot read /status: ${e.message}`;
  }
}

refresh();
setInterval(refresh, 5000);

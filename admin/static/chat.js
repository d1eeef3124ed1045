// The web chat: every message carries a client id, so a retry after a dropped connection is
// recognised by the server and never answered twice.
(function () {
  const log = document.getElementById("log");
  const input = document.getElementById("text");
  const rid = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2)).replace(/[^A-Za-z0-9_-]/g, "");
  let userId = localStorage.getItem("vl_user");
  if (!userId) { userId = "w" + rid().slice(0, 20); localStorage.setItem("vl_user", userId); }
  let lastPushed = Number(localStorage.getItem("vl_after") || 0);
  // A message whose answer was recovered after a server crash is answered twice over: pushed to
  // the poll, and again in the response to its retry, with the same ids. Each is shown once.
  const shownPushed = new Set();
  function showPushedOnce(m) {
    if (m.id <= lastPushed || shownPushed.has(m.id)) return;
    shownPushed.add(m.id);
    showReply(m);
  }

  function bubble(text, cls) {
    const div = document.createElement("div");
    div.className = "msg " + cls;
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }
  function showReply(reply) {
    bubble(reply.text, "bot");
    if (reply.buttons && reply.buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      reply.buttons.forEach(function (b) {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.label;
        btn.dataset.payload = b.payload;
        btn.addEventListener("click", function () { send({ payload: b.payload }, b.label); });
        row.appendChild(btn);
      });
      log.appendChild(row);
      log.scrollTop = log.scrollHeight;
    }
  }
  async function send(body, shown) {
    const mine = bubble(shown, "me pending");
    const message = Object.assign({ user_id: userId, client_id: rid().slice(0, 32) }, body);
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch("/api/webchat/messages", {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(message),
        });
        const data = await res.json();
        mine.classList.remove("pending", "failed");
        if (!res.ok) {
          if (res.status >= 500) throw new Error(data.error || "server");
          bubble(data.error || "发送失败", "bot");
          return;
        }
        data.replies.forEach(function (r) { if (r.id) showPushedOnce(r); else showReply(r); });
        return;
      } catch (e) {
        mine.classList.add("failed");
        await new Promise(function (r) { setTimeout(r, Math.min(30000, 1000 * 2 ** attempt)); });
      }
    }
  }
  async function poll() {
    try {
      const res = await fetch("/api/webchat/messages?user_id=" + encodeURIComponent(userId) + "&after=" + lastPushed);
      if (res.ok) {
        const data = await res.json();
        data.messages.forEach(function (m) { showPushedOnce(m); lastPushed = Math.max(lastPushed, m.id); });
        localStorage.setItem("vl_after", String(lastPushed));
      }
    } catch (e) { /* offline: try again later */ }
    setTimeout(poll, 4000);
  }
  document.getElementById("composer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({ text: text }, text);
  });
  if (!localStorage.getItem("vl_started")) {
    localStorage.setItem("vl_started", "1");
    send({ text: "/start" }, "开始");
  }
  poll();
})();

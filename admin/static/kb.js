// Knowledge-base pages: live preview (rendered by the server, exactly as the bot will send it) and "试一试".
(function () {
  const form = document.getElementById("kb-form");
  if (form) {
    let timer = null;
    const update = async function () {
      const res = await fetch("/admin/kb/preview", { method: "POST", body: new FormData(form) });
      const data = await res.json();
      document.getElementById("preview").textContent = data.text;
      const list = document.getElementById("preview-errors");
      list.innerHTML = "";
      data.errors.forEach(function (e) { const li = document.createElement("li"); li.textContent = e; list.appendChild(li); });
    };
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(update, 300); });
    update();
  }
  const tryForm = document.getElementById("try-form");
  if (tryForm) {
    tryForm.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const res = await fetch("/admin/kb/try", { method: "POST", body: new FormData(tryForm) });
      const data = await res.json();
      const out = document.getElementById("try-result");
      out.innerHTML = "";
      const p = document.createElement("p");
      p.textContent = "类别：" + data.intent_name + "（" + data.intent + "，置信度 " + data.confidence + "）";
      out.appendChild(p);
      const ol = document.createElement("ol");
      data.articles.forEach(function (a) {
        const li = document.createElement("li");
        const link = document.createElement("a");
        link.href = "/admin/kb/" + a.slug; link.textContent = a.title;
        li.appendChild(link); li.appendChild(document.createTextNode(" 得分 " + a.score));
        ol.appendChild(li);
      });
      out.appendChild(ol);
    });
  }
})();

// The customer simulator: polls both threads and posts what the customer types or presses.
// No framework and no inline script, so the page's Content-Security-Policy can forbid both.
"use strict";

const select = document.getElementById("customer");
const threads = {
  sms: document.getElementById("sms-thread"),
  telegram: document.getElementById("telegram-thread"),
};
const linkButton = document.getElementById("link");
let lastRendered = "";

function customerId() {
  return select ? Number(select.value) : 0;
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    console.warn("simulator:", path, response.status);
  }
  await refresh();
}

function bubble(item, channel) {
  const li = document.createElement("li");
  li.className = item.direction;
  const text = document.createElement("div");
  text.className = "bubble";
  if (item.direction === "button") {
    text.textContent = "pressed: " + item.text;
  } else {
    for (const part of item.parts || [{ text: item.text }]) {
      // Links become real anchors (web addresses only); everything else stays plain text.
      if (part.url && /^https?:\/\//.test(part.url)) {
        const a = document.createElement("a");
        a.href = part.url;
        a.textContent = part.text;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        text.appendChild(a);
      } else {
        text.appendChild(document.createTextNode(part.text));
      }
    }
  }
  li.appendChild(text);
  if (item.buttons && item.buttons.length) {
    const row = document.createElement("div");
    row.className = "buttons";
    for (const b of item.buttons) {
      if (b.data === "share_contact") continue;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = b.label;
      button.addEventListener("click", () =>
        post("simulator/api/send", { customer: customerId(), channel, button: b.data }));
      row.appendChild(button);
    }
    li.appendChild(row);
  }
  return li;
}

async function refresh() {
  const id = customerId();
  if (!id) return;
  const response = await fetch("simulator/api/thread?customer=" + id, { cache: "no-store" });
  if (!response.ok) return;
  const data = await response.json();
  const key = JSON.stringify(data);
  if (key === lastRendered) return;
  lastRendered = key;
  document.getElementById("sms-number").textContent = data.customer.phone || "(no phone)";
  document.getElementById("telegram-state").textContent =
    data.customer.telegram_linked ? "linked" : "not linked";
  linkButton.hidden = data.customer.telegram_linked;
  for (const channel of ["sms", "telegram"]) {
    const list = threads[channel];
    list.replaceChildren(...data[channel].map((item) => bubble(item, channel)));
    list.scrollTop = list.scrollHeight;
  }
}

for (const form of document.querySelectorAll("form.compose")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = form.elements.namedItem("text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    post("simulator/api/send", { customer: customerId(), channel: form.dataset.channel, text });
  });
}
if (select) {
  select.addEventListener("change", () => { lastRendered = ""; refresh(); });
}
linkButton.addEventListener("click", () => post("simulator/api/link", { customer: customerId() }));
refresh();
setInterval(refresh, 1000);

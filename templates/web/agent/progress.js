// Keeps a broadcast's progress page current: polls its JSON once a second until it finishes.
// A file, not inline, so the page's Content-Security-Policy can forbid inline script.
"use strict";
(function () {
  const box = document.getElementById("progress");
  if (!box) return;
  const bar = box.querySelector("progress");
  let finished = box.dataset.finished === "yes";

  function show(numbers) {
    if (numbers.status === "cancelled") {
      // Cancelled elsewhere: the page says how many went out before the stop, not "% done".
      window.location.reload();
      return;
    }
    for (const el of box.querySelectorAll("[data-field]")) {
      const value = numbers[el.dataset.field];
      if (value !== undefined) el.textContent = String(value);
    }
    bar.value = numbers.percent_done;
    finished = numbers.finished;
    box.dataset.finished = finished ? "yes" : "no";
    const cancel = document.getElementById("cancel");
    if (finished && cancel) cancel.hidden = true; // nothing left to cancel
  }

  async function poll() {
    try {
      const response = await fetch(box.dataset.url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.ok) show(await response.json());
    } catch (err) {
      // A network blip: try again at the next tick.
    }
    if (!finished) setTimeout(poll, 1000);
  }

  if (!finished) setTimeout(poll, 500);
})();

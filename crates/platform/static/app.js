// keel — progressive enhancement. Every page works without this file.
"use strict";

// Confirm destructive actions: <form data-confirm="Really?">.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// Copy buttons: <button data-copy="#input-id">.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.value ?? source.textContent);
    button.textContent = "Copied";
  } catch {
    source.select?.();
  }
});

// An "all day" checkbox (<input type="checkbox" data-date-only="#from, #until">) turns the
// date-time pickers it names into date pickers, keeping the date.
function dateOnly(box) {
  for (const input of document.querySelectorAll(box.dataset.dateOnly)) {
    const date = input.value.slice(0, 10);
    const time = input.dataset.time || "09:00";
    if (box.checked && input.type === "datetime-local") {
      input.dataset.time = input.value.slice(11, 16) || time;
      input.type = "date";
      input.value = date;
    } else if (!box.checked && input.type === "date") {
      input.type = "datetime-local";
      input.value = date ? `${date}T${time}` : "";
    }
  }
}
for (const box of document.querySelectorAll("input[data-date-only]")) {
  dateOnly(box);
  box.addEventListener("change", () => dateOnly(box));
}

// Searchable checkbox lists: <fieldset class="pick-list"> with a hidden search box.
function pickFilter(list) {
  const search = list.querySelector(".pick-filter");
  if (!search) return;
  search.hidden = false;
  search.value = "";
  search.addEventListener("input", () => {
    const needle = search.value.trim().toLowerCase();
    for (const label of list.querySelectorAll(".pick-options label")) {
      label.hidden = needle !== "" && !label.textContent.toLowerCase().includes(needle);
    }
  });
}
document.querySelectorAll("fieldset.pick-list").forEach(pickFilter);

// Level editors ([data-levels] of [data-level] fieldsets named levelN_…): add, remove and
// reorder levels in place. Names are renumbered so the form posts levels in page order;
// without this script the page still offers one empty level per save.
(function levels() {
  const root = document.querySelector("[data-levels]");
  if (!root) return;
  const renumber = () => {
    root.querySelectorAll("[data-level]").forEach((level, i) => {
      level.querySelector("[data-level-number]").textContent = i + 1;
      for (const el of level.querySelectorAll("[name], [id], label[for]")) {
        for (const attr of ["name", "id", "for"]) {
          const value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace(/^level\d+_/, `level${i}_`));
        }
      }
    });
  };
  for (const tools of root.querySelectorAll(".level-tools")) tools.hidden = false;
  root.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const level = button.closest("[data-level]");
    if (button.hasAttribute("data-level-remove")) {
      if (root.querySelectorAll("[data-level]").length > 1) level.remove();
      else for (const box of level.querySelectorAll("input[type=checkbox]")) box.checked = false;
    } else if (button.dataset.levelMove) {
      const sibling = button.dataset.levelMove === "-1" ? level.previousElementSibling : level.nextElementSibling;
      if (!sibling) return;
      if (button.dataset.levelMove === "-1") root.insertBefore(level, sibling);
      else root.insertBefore(sibling, level);
      button.focus();
    } else return;
    renumber();
  });
  const add = document.querySelector("[data-level-add]");
  if (add) {
    add.hidden = false;
    add.addEventListener("click", () => {
      const levels = root.querySelectorAll("[data-level]");
      if (levels.length >= 20) return;
      const copy = levels[levels.length - 1].cloneNode(true);
      for (const box of copy.querySelectorAll("input[type=checkbox]")) box.checked = false;
      for (const label of copy.querySelectorAll(".pick-options label")) label.hidden = false;
      for (const error of copy.querySelectorAll(".error")) error.remove();
      copy.querySelectorAll("fieldset.pick-list").forEach(pickFilter);
      root.appendChild(copy);
      renumber();
      copy.querySelector("input[type=search], input[type=checkbox]")?.focus();
    });
  }
})();

// A link to a closed <details> (e.g. "#edit") opens it.
document.addEventListener("click", (event) => {
  const link = event.target.closest('a[href^="#"]');
  const target = link && document.getElementById(link.getAttribute("href").slice(1));
  if (target instanceof HTMLDetailsElement) target.open = true;
});

// Show times in the zone the page says it uses (an ancestor's data-time-zone, e.g. a
// schedule's or the user's), else the reader's own. Ages (<time class="age">) keep their
// words and show the moment on hover.
for (const el of document.querySelectorAll("time[datetime]")) {
  const when = new Date(el.getAttribute("datetime"));
  if (Number.isNaN(when.getTime())) continue;
  const zone = el.closest("[data-time-zone]")?.dataset.timeZone;
  let text;
  try {
    text = when.toLocaleString(undefined, zone ? { timeZone: zone, dateStyle: "medium", timeStyle: "short" } : undefined);
  } catch {
    text = when.toLocaleString();
  }
  if (el.classList.contains("age")) el.title = text;
  else el.textContent = text;
}

// Live updates: pages that list changing things carry data-live="topic-prefix". Events from
// the stream with a matching topic refresh the page (debounced) while the reader is idle.
(function live() {
  const root = document.querySelector("[data-live]");
  if (!root || !("WebSocket" in window)) return;
  const prefixes = root.dataset.live.split(",").map((p) => p.trim());
  const status = document.getElementById("live-status");
  let retry = 1000;
  let timer = null;
  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const typing = document.activeElement && ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
      if (typing) { status.textContent = "New changes — reload to see them."; status.hidden = false; }
      else location.reload();
    }, 400);
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/stream`);
    socket.addEventListener("open", () => {
      // Changes made while the stream was down were missed: catch up once it is back.
      if (root.dataset.liveState === "closed") refresh();
      root.dataset.liveState = "open";
      retry = 1000;
      status.hidden = true;
    });
    socket.addEventListener("message", (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch { return; }
      if (!prefixes.some((p) => event.topic.startsWith(p))) return;
      document.dispatchEvent(new CustomEvent("keel:event", { detail: event }));
      refresh();
    });
    socket.addEventListener("close", () => {
      root.dataset.liveState = "closed";
      status.textContent = "Live updates paused — reconnecting…";
      status.hidden = false;
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  }
  connect();
})();

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

// Ordered people lists: <textarea data-people="datalist-id"> (one e-mail per line) becomes a
// list with move and remove buttons and a searchable box to add someone. The textarea stays
// the form's value, so the page works the same without this script.
function peoplePicker(area) {
  const options = document.getElementById(area.dataset.people);
  if (!options || area.dataset.enhanced) return;
  area.dataset.enhanced = "1";
  const known = [...options.options];
  const nameOf = (email) => known.find((o) => o.value.toLowerCase() === email.toLowerCase())?.textContent || email;
  const emails = () => area.value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
  const box = document.createElement("div");
  box.className = "people-picker";
  const list = document.createElement("ol");
  const row = document.createElement("div");
  row.className = "row";
  const input = document.createElement("input");
  input.type = "search";
  input.id = `${area.id}_add`;
  input.setAttribute("list", options.id);
  input.autocomplete = "off";
  const addButton = document.createElement("button");
  addButton.type = "button";
  addButton.textContent = "Add";
  row.append(input, addButton);
  box.append(list, row);
  const label = document.querySelector(`label[for="${area.id}"]`);
  if (label) label.htmlFor = input.id;
  const hint = label?.querySelector("[data-hint-js]");
  if (hint) hint.textContent = hint.dataset.hintJs;
  const button = (text, action, index, label) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "small";
    b.textContent = text;
    b.dataset.action = action;
    b.dataset.index = index;
    b.setAttribute("aria-label", label);
    return b;
  };
  const render = () => {
    list.replaceChildren(...emails().map((email, i) => {
      const item = document.createElement("li");
      const who = document.createElement("span");
      who.textContent = nameOf(email);
      who.title = email;
      const name = who.textContent;
      item.append(who, button("↑", "up", i, `Move ${name} up`), button("↓", "down", i, `Move ${name} down`), button("Remove", "remove", i, `Remove ${name}`));
      return item;
    }));
  };
  const write = (values) => { area.value = values.join("\n"); render(); };
  list.addEventListener("click", (event) => {
    const b = event.target.closest("button[data-action]");
    if (!b) return;
    const values = emails();
    const i = Number(b.dataset.index);
    const j = b.dataset.action === "up" ? i - 1 : i + 1;
    if (b.dataset.action === "remove") values.splice(i, 1);
    else if (j >= 0 && j < values.length) [values[i], values[j]] = [values[j], values[i]];
    write(values);
  });
  const add = () => {
    const typed = input.value.trim();
    if (!typed) return;
    const match = known.find((o) => o.value.toLowerCase() === typed.toLowerCase() || o.textContent.toLowerCase() === typed.toLowerCase());
    write([...emails(), match ? match.value : typed]);
    input.value = "";
    input.focus();
  };
  addButton.addEventListener("click", add);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); add(); }
  });
  area.hidden = true;
  area.after(box);
  render();
}
document.querySelectorAll("textarea[data-people]").forEach(peoplePicker);

// Repeatable fieldsets: <div data-repeat="level"> holds <fieldset data-repeat-item>s whose
// controls are named level0_…, level1_…; buttons data-repeat-move="-1|1", data-repeat-remove
// and <button data-repeat-add="level"> add, remove and reorder them in place. Names are
// renumbered so the form posts items in page order; without this script the page offers one
// empty item per save.
function repeatEditor(root) {
  const prefix = root.dataset.repeat;
  const numbered = new RegExp(`^${prefix}\\d+_`);
  const items = () => root.querySelectorAll(":scope > [data-repeat-item]");
  const renumber = () => {
    items().forEach((item, i) => {
      item.querySelector("[data-repeat-number]").textContent = i + 1;
      for (const el of item.querySelectorAll("[name], [id], label[for]")) {
        for (const attr of ["name", "id", "for"]) {
          const value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace(numbered, `${prefix}${i}_`));
        }
      }
    });
  };
  for (const tools of root.querySelectorAll(".repeat-tools")) tools.hidden = false;
  root.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    const item = button?.closest("[data-repeat-item]");
    if (!item || item.parentElement !== root) return;
    if (button.hasAttribute("data-repeat-remove")) {
      if (items().length > 1) item.remove();
      else {
        clearItem(item);
        item.querySelectorAll("textarea[data-people]").forEach(peoplePicker);
      }
    } else if (button.dataset.repeatMove) {
      const up = button.dataset.repeatMove === "-1";
      const sibling = up ? item.previousElementSibling : item.nextElementSibling;
      if (!sibling) return;
      if (up) root.insertBefore(item, sibling);
      else root.insertBefore(sibling, item);
      button.focus();
    } else return;
    renumber();
  });
  const add = document.querySelector(`[data-repeat-add="${prefix}"]`);
  if (!add) return;
  add.hidden = false;
  add.addEventListener("click", () => {
    const all = items();
    if (all.length >= Number(root.dataset.repeatMax || 20)) return;
    const copy = all[all.length - 1].cloneNode(true);
    clearItem(copy);
    root.appendChild(copy);
    renumber();
    copy.querySelectorAll("fieldset.pick-list").forEach(pickFilter);
    copy.querySelectorAll("textarea[data-people]").forEach(peoplePicker);
    copy.querySelector("input:not([type=hidden]):not([hidden]), textarea:not([hidden])")?.focus();
  });
}
// A fresh item: nothing ticked or typed; numbers and choices keep their defaults.
function clearItem(item) {
  for (const box of item.querySelectorAll("input[type=checkbox]")) box.checked = false;
  for (const field of item.querySelectorAll("input[type=text], input[type=search], input[type=datetime-local], input:not([type]), textarea")) field.value = "";
  for (const label of item.querySelectorAll(".pick-options label")) label.hidden = false;
  for (const error of item.querySelectorAll(".error")) error.remove();
  for (const picker of item.querySelectorAll(".people-picker")) picker.remove();
  for (const area of item.querySelectorAll("textarea[data-people]")) {
    delete area.dataset.enhanced;
    area.hidden = false;
    const label = item.querySelector(`label[for="${area.id}_add"]`);
    if (label) label.htmlFor = area.id;
  }
}
document.querySelectorAll("[data-repeat]").forEach(repeatEditor);

// On a phone the tab strip scrolls sideways: bring the current tab into view.
document.querySelector(".tabs [aria-current=page]")?.scrollIntoView({ block: "nearest", inline: "center" });

// A link to a closed <details> (e.g. "#edit") opens it.
document.addEventListener("click", (event) => {
  const link = event.target.closest('a[href^="#"]');
  const target = link && document.getElementById(link.getAttribute("href").slice(1));
  if (target instanceof HTMLDetailsElement) target.open = true;
});

// Show times in the zone the page says it uses (an ancestor's data-time-zone, e.g. a
// schedule's or the user's), else the reader's own. Ages (<time class="age">) keep their
// words and show the moment on hover.
function localTimes(scope) {
  for (const el of scope.querySelectorAll("time[datetime]")) {
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
}
localTimes(document);

// Live updates: pages that list changing things carry data-live="topic-prefix". A matching
// event from the stream fetches the page again and swaps the live part in place (or, for an
// empty marker, reloads); rows (data-id) that are new or changed are marked for a moment.
// While the reader is typing, has unsaved text or ticked rows, it says so instead.
(function live() {
  const root = document.querySelector("[data-live]");
  if (!root || !("WebSocket" in window)) return;
  const prefixes = root.dataset.live.split(",").map((p) => p.trim());
  const status = document.getElementById("live-status");
  let retry = 1000;
  let timer = null;
  const busy = () => {
    const active = document.activeElement;
    if (active && root.contains(active) && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName) && active.type !== "checkbox") return true;
    for (const field of root.querySelectorAll("textarea, input[type=text]")) if (field.value !== field.defaultValue) return true;
    for (const box of root.querySelectorAll("input[type=checkbox]")) if (box.checked !== box.defaultChecked) return true;
    return false;
  };
  async function swap() {
    if (busy()) { status.textContent = "New changes — reload to see them."; status.hidden = false; return; }
    if (!root.children.length) { location.reload(); return; }
    let next;
    try {
      const answer = await fetch(location.href, { headers: { accept: "text/html" }, credentials: "same-origin" });
      if (!answer.ok) throw new Error(answer.statusText);
      next = new DOMParser().parseFromString(await answer.text(), "text/html").querySelector("[data-live]");
    } catch {
      return;
    }
    if (!next || next.dataset.live !== root.dataset.live) { location.reload(); return; }
    if (busy()) return;
    const before = new Map([...root.querySelectorAll("[data-id]")].map((el) => [el.dataset.id, el.textContent]));
    root.replaceChildren(...next.childNodes);
    for (const el of root.querySelectorAll("[data-id]")) {
      if (before.get(el.dataset.id) !== el.textContent) el.classList.add("fresh");
    }
    localTimes(root);
    status.hidden = true;
    document.dispatchEvent(new CustomEvent("keel:swapped"));
  }
  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(swap, 400);
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

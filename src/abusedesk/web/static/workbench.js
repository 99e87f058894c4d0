// abusedesk workbench: keyboard shortcuts for the queue loop. No inline script, no eval:
// the Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";

  function typing(target) {
    return target instanceof HTMLElement &&
      (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function submit(id) {
    const form = document.getElementById(id);
    if (form instanceof HTMLFormElement) {
      form.requestSubmit();
      return true;
    }
    return false;
  }

  function focus(id) {
    const field = document.getElementById(id);
    if (field instanceof HTMLElement) {
      field.focus();
      return true;
    }
    return false;
  }

  function resolve() {
    const target = document.getElementById("move-target");
    if (!(target instanceof HTMLSelectElement)) return false;
    if (![...target.options].some((o) => o.value === "resolved")) return false;
    target.value = "resolved";
    return focus("move-reason");
  }

  const keys = {
    n: () => submit("next-case"),
    a: () => submit("take-case"),
    c: () => focus("note-body"),
    e: () => focus("escalate-reason"),
    r: resolve,
    "/": () => focus("nav-q"),
    "?": () => {
      const help = document.getElementById("shortcuts");
      if (help) help.hidden = !help.hidden;
      return Boolean(help);
    },
  };

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const action = keys[event.key];
    if (action && action()) event.preventDefault();
  });
})();

// The case page's focus heartbeat: while the page is visible and has focus, tell the
// server so every few seconds (the server answers how many), so that handle time is the
// time a case was really worked on. Hiding the page or leaving it sends one last ping,
// which marks where the stretch ends, and stops.
(function () {
  "use strict";

  const holder = document.querySelector("[data-heartbeat]");
  if (!(holder instanceof HTMLElement)) return;
  const url = holder.dataset.heartbeat;
  const meta = document.querySelector('meta[name="csrf-token"]');
  const token = meta ? meta.getAttribute("content") || "" : "";
  let seconds = 30;
  let chain = 0;
  let live = false;
  let refused = false;

  function active() {
    return document.visibilityState === "visible" && document.hasFocus();
  }

  function ping(last) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      keepalive: last,
      headers: { "X-CSRF-Token": token, "Content-Type": "application/json" },
      body: "{}",
    })
      .then((response) => {
        // Not allowed, signed out or no such case: pinging again would not help.
        if ([401, 403, 404].includes(response.status)) refused = true;
        return response.ok ? response.json() : null;
      })
      .then((answer) => {
        const next = answer ? Number(answer.next_seconds) : NaN;
        if (Number.isFinite(next) && next >= 5) seconds = next;
      })
      .catch(() => {});
  }

  function loop(id) {
    if (id !== chain) return;
    if (refused || !active()) {
      live = false;
      return;
    }
    ping(false).then(() => window.setTimeout(() => loop(id), seconds * 1000));
  }

  function start() {
    if (live || refused || !active()) return;
    live = true;
    chain += 1;
    loop(chain);
  }

  function stop() {
    if (!live) return;
    live = false;
    chain += 1;
    if (!refused) ping(true);
  }

  document.addEventListener("visibilitychange", () => (active() ? start() : stop()));
  window.addEventListener("focus", start);
  window.addEventListener("blur", stop);
  window.addEventListener("pagehide", stop);
  start();
})();

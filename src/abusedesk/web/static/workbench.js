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

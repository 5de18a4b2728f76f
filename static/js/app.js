// Small behaviours that need no framework. Loaded with defer; no inline scripts (CSP script-src 'self').
(function () {
  "use strict";
  const root = document.documentElement;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  // Theme: the server renders the signed-in user's choice; visitors keep theirs in localStorage.
  const saved = localStorage.getItem("theme");
  if (saved && root.dataset.theme === "system") root.dataset.theme = saved;
  document.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-theme-toggle]");
    if (!toggle) return;
    const order = ["system", "light", "dark"];
    const next = order[(order.indexOf(root.dataset.theme || "system") + 1) % order.length];
    root.dataset.theme = next;
    localStorage.setItem("theme", next);
    toggle.setAttribute("aria-label", "Colour theme: " + next + " (click to change)");
    const url = toggle.dataset.themeUrl;
    if (url) {
      const body = new URLSearchParams({ theme: next });
      fetch(url, { method: "POST", body: body, headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" });
    }
  });
})();

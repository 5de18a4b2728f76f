// Theme: light, dark or follow the system; the choice is kept in localStorage until accounts store it.
(function () {
  "use strict";
  const root = document.documentElement;
  const saved = localStorage.getItem("theme");
  if (saved) root.dataset.theme = saved;
  document.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-theme-toggle]");
    if (!toggle) return;
    const order = ["system", "light", "dark"];
    const next = order[(order.indexOf(root.dataset.theme || "system") + 1) % order.length];
    root.dataset.theme = next;
    localStorage.setItem("theme", next);
    toggle.setAttribute("aria-label", "Colour theme: " + next + " (click to change)");
  });
})();

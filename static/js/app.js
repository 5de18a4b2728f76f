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

// Chat: Enter sends, Shift+Enter is a new line; the composer waits while a reply streams.
(function () {
  "use strict";

  function streamingMessage() {
    return document.querySelector(".message[data-streaming]");
  }

  function syncComposer() {
    const composer = document.getElementById("composer");
    if (!composer) return;
    const busy = streamingMessage();
    const send = composer.querySelector("[data-send]");
    const stop = composer.querySelector("[data-composer-stop]");
    if (send) send.disabled = Boolean(busy);
    if (stop) stop.hidden = !busy;
    composer.toggleAttribute("aria-busy", Boolean(busy));
  }

  document.addEventListener("keydown", function (event) {
    const input = event.target;
    if (input.id !== "composer-input" || event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    const form = input.form;
    if (form.querySelector("[data-send]").disabled || !input.value.trim()) return;
    form.requestSubmit();
  });

  document.addEventListener("click", function (event) {
    const stop = event.target.closest("[data-composer-stop]");
    if (stop) {
      const button = document.querySelector(".message[data-streaming] [data-stop-stream]");
      if (button) button.click();
      return;
    }
    const confirmButton = event.target.closest("[data-confirm]");
    if (confirmButton && !window.confirm(confirmButton.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    const copy = event.target.closest("[data-copy], [data-copy-message]");
    if (copy) {
      const source = copy.matches("[data-copy]")
        ? copy.closest("pre").querySelector("code")
        : copy.closest(".message").querySelector(".markdown");
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.innerText).then(function () {
          const label = copy.textContent;
          copy.textContent = "Copied";
          setTimeout(function () { copy.textContent = label; }, 1500);
        });
      }
    }
  });

  function addCopyButtons(root) {
    (root || document).querySelectorAll(".markdown pre").forEach(function (pre) {
      if (pre.querySelector("[data-copy]")) return;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy-code";
      button.dataset.copy = "";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy code");
      pre.appendChild(button);
    });
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (form.matches && form.matches("form[data-reset-on-success]") && event.detail.successful) {
      form.reset();
      const error = form.querySelector("#composer-error");
      if (error) error.textContent = "";
    }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    // Show validation and quota errors (4xx) where the response says, instead of dropping them.
    if (event.detail.xhr.status >= 400 && event.detail.xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    addCopyButtons(event.target);
    syncComposer();
    // A sent message is appended to the thread: bring the new reply into view.
    if (event.target.id === "thread" && event.target.lastElementChild) {
      event.target.lastElementChild.scrollIntoView({ block: "end" });
    }
  });
  document.addEventListener("htmx:sseClose", syncComposer);
  document.addEventListener("DOMContentLoaded", function () {
    addCopyButtons(document);
    syncComposer();
    const thread = document.getElementById("thread");
    if (thread) thread.lastElementChild && thread.lastElementChild.scrollIntoView({ block: "end" });
  });
})();

// Citations: [n] in a reply opens source n in the list under it.
document.addEventListener("click", function (event) {
  "use strict";
  const link = event.target.closest("a[data-citation]");
  if (!link) return;
  const target = document.querySelector(link.getAttribute("href"));
  if (!target) return;
  event.preventDefault();
  const details = target.querySelector("details");
  if (details) details.open = true;
  target.scrollIntoView({ block: "nearest" });
  const summary = target.querySelector("summary");
  if (summary) summary.focus();
});

// Uploads: drag files onto the zone instead of using the file picker.
(function () {
  "use strict";
  document.addEventListener("dragover", function (event) {
    const zone = event.target.closest && event.target.closest("[data-upload-zone]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.add("dragging");
  });
  document.addEventListener("dragleave", function (event) {
    const zone = event.target.closest && event.target.closest("[data-upload-zone]");
    if (zone) zone.classList.remove("dragging");
  });
  document.addEventListener("drop", function (event) {
    const zone = event.target.closest && event.target.closest("[data-upload-zone]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("dragging");
    const input = zone.querySelector("input[type=file]");
    input.files = event.dataTransfer.files;
    zone.requestSubmit();
  });
})();

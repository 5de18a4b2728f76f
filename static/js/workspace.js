// The chat workspace (issue 16): starter prompts, the sidebar's chat menus. Loaded with defer; no inline scripts.
(function () {
  "use strict";

  // A starter prompt goes through the composer, so it is sent on the model the composer shows (its form, used
  // without script, starts a chat on the default model).
  document.addEventListener("click", function (event) {
    const suggestion = event.target.closest("[data-prompt-suggestion]");
    if (!suggestion) return;
    const composer = document.getElementById("composer");
    const input = document.getElementById("composer-input");
    if (!composer || !input) return;
    event.preventDefault();
    input.value = suggestion.form.elements.content.value;
    input.dispatchEvent(new Event("input", { bubbles: true })); // the counter and the error slot follow
    composer.requestSubmit();
  });

  function menus() {
    return document.querySelectorAll("details.item-menu[open]");
  }

  // One chat menu open at a time; Escape closes it, the focus back on its button.
  document.addEventListener("toggle", function (event) {
    const details = event.target;
    if (!details.matches || !details.matches("details.item-menu") || !details.open) return;
    menus().forEach(function (other) { if (other !== details) other.open = false; });
  }, true); // toggle does not bubble

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const details = event.target.closest && event.target.closest("details.item-menu[open]");
    if (!details) return;
    event.preventDefault();
    event.stopPropagation(); // the drawer stays open: Escape closes the innermost thing first
    details.open = false;
    details.querySelector("summary").focus();
  }, true);

  document.addEventListener("click", function (event) {
    menus().forEach(function (details) { if (!details.contains(event.target)) details.open = false; });
  });

  // A finished reply's done event brings its chat's preview as it is now (sidebar_preview.html): the chat's entry in
  // the sidebar shows it, if the entry is on the page (it showed the one it was drawn with: after an edit, the old
  // branch's reply). The carrier goes; it was swapped in beside the reply's bubble.
  document.addEventListener("htmx:load", function (event) {
    const carrier = event.target;
    if (!carrier.matches || !carrier.matches("[data-sidebar-preview]")) return;
    const id = carrier.dataset.sidebarPreview;
    const text = carrier.dataset.text || "";
    carrier.remove();
    const link = document.getElementById("conversation-link-" + id);
    if (!link) return;
    let preview = document.getElementById("conversation-preview-" + id);
    if (!text) {
      if (preview) preview.remove();
      link.removeAttribute("aria-describedby");
      return;
    }
    if (!preview) { // the chat had none yet: made as conversation_item.html makes it
      preview = document.createElement("p");
      preview.className = "conversation-preview";
      preview.id = "conversation-preview-" + id;
      link.after(preview);
      link.setAttribute("aria-describedby", preview.id);
    }
    preview.textContent = text;
  });

  // The sidebar was redrawn after a pin or an archive: the focus, on a button that is gone, goes to the chat's
  // link in its new place (or, archived, to the list).
  document.addEventListener("htmx:afterSwap", function (event) {
    // The SSE extension's swaps carry no target in their detail: only the sidebar's own swap matters here.
    if (!event.detail.target || event.detail.target.id !== "conversation-groups") return;
    const elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (elt && elt.id === "chat-search") return; // the list follows the words typed: the focus stays in the box
    // The header's Pin or Archive, redrawn with its new label (Unpin, Restore): the focus stays on it.
    if (elt && (elt.id === "chat-pin-form" || elt.id === "chat-archive-form")) {
      const button = document.querySelector("#" + elt.id + " button");
      if (button) button.focus();
      return;
    }
    const button = elt && elt.querySelector("[data-sidebar-action]");
    const id = button && button.dataset.sidebarAction;
    const link = id && document.getElementById("conversation-link-" + id);
    const fallback = event.detail.target.querySelector("a[href]");
    if (link) link.focus();
    else if (fallback) fallback.focus();
  });
})();

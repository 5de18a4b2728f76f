// Tool call cards in a reply (chatbot/tools): each "tool" event of the reply's stream carries one card, shown in
// place of the card with the same id (an approval card becomes its call's result card) or added after the others.
(function () {
  "use strict";

  function cardFrom(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content.querySelector("[id^='tool-']");
  }

  function focusCard(card) {
    // After an answer the buttons are gone: the focus goes to what replaced them, not to the top of the page.
    const target = card.querySelector("summary, button") || card;
    if (target === card) card.setAttribute("tabindex", "-1");
    target.focus({ preventScroll: true });
  }

  // A new call's card goes after the text written before it (the text so far is rendered for good, app.js), so
  // that the reply reads in the order it was made; calls of one round share a group.
  function containerFor(target) {
    const first = target.closest(".tool-calls") || target;
    const bubble = first.closest(".bubble");
    if (!bubble) return first;
    const before = window.chatFreezeStreamingText && window.chatFreezeStreamingText(bubble);
    if (before) {
      const group = document.createElement("div");
      group.className = "tool-calls";
      before.after(group);
      return group;
    }
    const groups = bubble.querySelectorAll(".tool-calls");
    return groups[groups.length - 1] || first;
  }

  // A card the page drew above the text (the call was made before the bubble was drawn, or the page was reloaded
  // while it waits) goes to its place once the text before it has streamed in again: after that text.
  function drawnAbove(existing) {
    const bubble = existing.closest(".bubble");
    if (!bubble || existing.parentElement !== bubble.querySelector(".tool-calls")) return false;
    const text = bubble.querySelector(".streaming-text");
    const later = bubble.querySelectorAll(".tool-calls").length > 1;
    return Boolean(text && (text.textContent.trim() || later));
  }

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    if (event.detail.type !== "tool") return;
    event.preventDefault();
    const card = cardFrom(event.detail.data);
    if (!card) return;
    const existing = document.getElementById(card.id);
    const hadFocus = existing && existing.contains(document.activeElement);
    if (existing && !drawnAbove(existing)) existing.replaceWith(card);
    else {
      if (existing) existing.remove();
      containerFor(event.target).appendChild(card);
    }
    if (window.htmx) window.htmx.process(card);
    if (hadFocus) focusCard(card);
  });

  // The answer's own response replaces the card (hx-target): keep the keyboard where it was.
  document.addEventListener("htmx:afterSwap", function (event) {
    const card = event.detail.target && event.detail.target.id && document.getElementById(event.detail.target.id);
    if (card && card.id.indexOf("tool-") === 0 && card.matches(".tool-card")) focusCard(card);
  });
})();

// Reasoning effort and thinking (issue 14).
(function () {
  "use strict";

  // The effort menu is for models that reason (the model menu lists their keys): shown, and sent, only while the
  // menu's choice is one.
  function syncEffort(picker) {
    const select = picker && picker.querySelector("[data-model-select]");
    const control = picker && picker.querySelector("[data-effort-control]");
    if (!select || !control) return;
    const chosen = select.options[select.selectedIndex];
    const reasoning = (select.dataset.reasoningModels || "").split(" ");
    const reasons = Boolean(chosen && reasoning.indexOf(chosen.value) !== -1);
    control.hidden = !reasons;
    control.querySelector("select").disabled = !reasons;
  }

  document.addEventListener("change", function (event) {
    const target = event.target;
    if (!target.closest) return;
    if (target.closest("[data-model-select]")) syncEffort(target.closest(".model-picker"));
    // The effort outlives the form's reset after sending, as the model does.
    if (target.closest("[data-effort-select]")) {
      Array.prototype.forEach.call(target.options, function (option) { option.defaultSelected = option.selected; });
    }
  });
  // The star redraws the menu: the drawn state follows the choice it was drawn with.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target.id === "model-picker") syncEffort(event.target);
  });

  // A reply's Thinking section appears with its first words (it stays collapsed: the answer is what is read).
  document.addEventListener("htmx:sseMessage", function (event) {
    const source = event.target;
    if (!source.classList || !source.classList.contains("thinking-text")) return;
    const details = source.closest("[data-thinking]");
    if (details && details.hidden) details.hidden = false;
  });
})();

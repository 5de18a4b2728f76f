// Projects in the sidebar (issue 16): the Projects group remembers whether it was left open (this browser), and a
// chat dragged onto a project moves into it (onto another group: out of its project). The chat's menu does the
// same by keyboard and without script. Loaded with defer; no inline scripts.
(function () {
  "use strict";

  const PREFIX = "chatbot:open:";

  function restore(root) {
    root.querySelectorAll("details[data-remember-open]").forEach(function (details) {
      let saved = null;
      try { saved = window.localStorage.getItem(PREFIX + details.dataset.rememberOpen); } catch (e) { /* private mode */ }
      if (saved === "0") details.open = false;
      else if (saved === "1") details.open = true;
    });
  }

  document.addEventListener("toggle", function (event) {
    const details = event.target;
    if (!details.matches || !details.matches("details[data-remember-open]")) return;
    try { window.localStorage.setItem(PREFIX + details.dataset.rememberOpen, details.open ? "1" : "0"); } catch (e) { /* private mode */ }
  }, true); // toggle does not bubble

  restore(document);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "conversation-groups") restore(event.detail.target);
  });

  // Drag and drop: the chat's own move form (in its menu) says where to post; the drop target says the project.
  let dragged = null;

  document.addEventListener("dragstart", function (event) {
    const item = event.target.closest && event.target.closest("#conversation-groups .conversation-item");
    const form = item && item.querySelector("form.project-move");
    if (!form) return;
    dragged = form;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", form.action);
  });

  document.addEventListener("dragend", function () {
    dragged = null;
    document.querySelectorAll(".drop-target").forEach(function (el) { el.classList.remove("drop-target"); });
  });

  // The project a drop lands on: a project's entry (its id), elsewhere in the list ("": out of any), or none.
  function target(event) {
    if (!dragged || !event.target.closest) return null;
    const project = event.target.closest("[data-project-drop]");
    if (project) return { element: project, value: project.dataset.projectDrop };
    // Anywhere else in the list but the Projects group (a group of recent chats, or the space under them).
    const list = event.target.closest("#conversation-groups");
    if (list && !event.target.closest(".sidebar-projects")) {
      return { element: event.target.closest(".sidebar-group") || list, value: "" };
    }
    return null;
  }

  document.addEventListener("dragover", function (event) {
    const found = target(event);
    if (!found) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".drop-target").forEach(function (el) {
      if (el !== found.element) el.classList.remove("drop-target");
    });
    found.element.classList.add("drop-target");
  });

  document.addEventListener("drop", function (event) {
    const found = target(event);
    if (!found) return;
    event.preventDefault();
    const form = dragged;
    const select = form.querySelector("select[name=project]");
    found.element.classList.remove("drop-target");
    if (select && select.value === found.value) return; // already there
    window.htmx.ajax("POST", form.action, {
      // From the drop target, not the form: only `project` is sent (the CSRF token goes in the body's hx-headers).
      source: found.element, target: "#conversation-groups", swap: "innerHTML", values: { project: found.value },
    });
  });
})();

// Attachments in the composer: the Attach button, files dropped anywhere on the chat and pasted files
// (screenshots) are uploaded one by one with a progress bar; the server answers each with its chip (a hidden
// input carries its id with the message). A refusal is shown in the composer's error slot and the chip removed.
(function () {
  "use strict";

  function box() {
    return document.querySelector("[data-attachments]");
  }

  function errorSlot() {
    return document.getElementById("composer-error");
  }

  // Each refused file says why, one line each: with several files chosen at once, a later refusal replaced the earlier.
  function say(text) {
    const slot = errorSlot();
    if (!slot) return;
    if (slot.dataset.kind !== "attachments") {
      slot.textContent = "";
      slot.dataset.kind = "attachments";
    }
    const line = document.createElement("p");
    line.textContent = text;
    slot.append(line);
  }

  function clearRefusals() {
    const slot = errorSlot();
    if (slot && slot.dataset.kind === "attachments") {
      slot.textContent = "";
      delete slot.dataset.kind;
    }
  }

  function csrfToken() {
    const input = document.querySelector("#composer input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function sizeText(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / 1024 / 1024).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }

  function pendingChip(file) {
    const chip = document.createElement("li");
    chip.className = "attachment-chip attachment-pending";
    chip.dataset.attachmentPending = "";
    const name = document.createElement("span");
    name.className = "attachment-chip-text";
    name.textContent = (file.name || "pasted image") + " " + sizeText(file.size);
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", "Uploading " + (file.name || "pasted image"));
    chip.append(name, progress);
    return chip;
  }

  function setSending(container) {
    const form = container.closest("form");
    const busy = container.querySelector("[data-attachment-pending]") !== null;
    const send = form && form.querySelector("[data-send]");
    if (send) send.toggleAttribute("data-uploading", busy);
    if (form) form.toggleAttribute("data-uploading", busy);
  }

  function upload(file) {
    const container = box();
    if (!container) return;
    const list = container.querySelector("[data-attachment-chips]");
    const chip = pendingChip(file);
    list.append(chip);
    setSending(container);
    const data = new FormData();
    data.append("file", file, file.name || "pasted-image.png");
    if (container.dataset.conversation) data.append("conversation", container.dataset.conversation);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", container.dataset.uploadUrl);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) chip.querySelector("progress").value = Math.round((100 * event.loaded) / event.total);
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 201) {
        const holder = document.createElement("ul");
        holder.innerHTML = xhr.responseText; // the server's own chip fragment (names escaped by the template)
        const ready = holder.querySelector("[data-attachment-chip]");
        if (ready) chip.replaceWith(ready);
        else chip.remove();
      } else {
        const holder = document.createElement("div");
        holder.innerHTML = xhr.responseText;
        say(holder.textContent.trim() || "The file could not be attached (error " + xhr.status + ").");
        chip.remove();
      }
      setSending(container);
    });
    xhr.addEventListener("error", function () {
      say("The server could not be reached: the file was not attached.");
      chip.remove();
      setSending(container);
    });
    xhr.send(data);
  }

  function uploadAll(files) {
    clearRefusals(); // the last batch's refusals were read; this batch says its own
    for (const file of files) upload(file);
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-attachment-button]");
    if (button) {
      const input = box() && box().querySelector("[data-attachment-input]");
      if (input) input.click();
      return;
    }
    const remove = event.target.closest("[data-attachment-remove]");
    if (remove) {
      const chip = remove.closest("[data-attachment-chip]");
      fetch(remove.dataset.attachmentRemove, { method: "POST", headers: { "X-CSRFToken": csrfToken() } });
      const input = document.getElementById("composer-input");
      chip.remove();
      if (input) input.focus(); // the removed chip's button is gone: keep the focus in the composer
    }
  });

  document.addEventListener("change", function (event) {
    if (!event.target.matches("[data-attachment-input]")) return;
    uploadAll(Array.from(event.target.files));
    event.target.value = "";
  });

  document.addEventListener("paste", function (event) {
    if (!box() || !event.target.closest || !event.target.closest("#composer")) return;
    const files = Array.from((event.clipboardData && event.clipboardData.files) || []);
    if (!files.length) return; // plain text pastes as usual
    event.preventDefault();
    uploadAll(files);
  });

  function dragHasFiles(event) {
    return event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files");
  }

  document.addEventListener("dragover", function (event) {
    if (!box() || !dragHasFiles(event)) return;
    event.preventDefault(); // lets the drop happen here instead of the browser opening the file
    document.body.classList.add("attachment-dragging");
  });
  document.addEventListener("dragleave", function (event) {
    if (event.relatedTarget === null) document.body.classList.remove("attachment-dragging");
  });
  document.addEventListener("drop", function (event) {
    document.body.classList.remove("attachment-dragging");
    if (!box() || !dragHasFiles(event)) return;
    event.preventDefault();
    uploadAll(Array.from(event.dataTransfer.files));
  });

  // A message sent: its files went with it, so the chips go (app.js resets the text the same way).
  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (!form.matches || !form.matches("#composer") || !event.detail.successful) return;
    const container = box();
    if (container) container.querySelector("[data-attachment-chips]").replaceChildren();
  });

  // Sending while a file is still uploading would leave it behind: wait for it.
  document.addEventListener("submit", function (event) {
    if (event.target.matches && event.target.matches("#composer[data-uploading]")) {
      event.preventDefault();
      event.stopImmediatePropagation();
      say("A file is still uploading; send when it is done.");
    }
  }, true);
  document.addEventListener("htmx:confirm", function (event) {
    if (event.target.matches && event.target.matches("#composer[data-uploading]")) {
      event.preventDefault();
      say("A file is still uploading; send when it is done.");
    }
  });

  function reveal() {
    document.querySelectorAll("[data-attachment-button], .attachment-limits").forEach(function (node) {
      node.hidden = false;
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", reveal);
  else reveal();
  document.addEventListener("htmx:afterSettle", reveal);
})();

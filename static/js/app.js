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

  // Theme: the server renders the signed-in user's choice (data-theme-saved), which wins over anything this
  // browser kept (Settings may have changed it since); visitors keep theirs in localStorage.
  const ICONS = { system: "◐", light: "☀", dark: "☾" };
  const saved = localStorage.getItem("theme");
  if ("themeSaved" in root.dataset) localStorage.setItem("theme", root.dataset.theme || "system");
  else if (saved && root.dataset.theme === "system") root.dataset.theme = saved;
  function showTheme(toggle, theme) {
    toggle.setAttribute("aria-label", "Colour theme: " + theme + ", change it");
    const icon = toggle.querySelector("[data-theme-icon]");
    if (icon) icon.textContent = ICONS[theme] || ICONS.system;
  }
  document.addEventListener("DOMContentLoaded", function () {
    const toggle = document.querySelector("[data-theme-toggle]");
    if (toggle) showTheme(toggle, root.dataset.theme || "system");
    // The settings sections scroll sideways on a phone: the open one is brought into view, not left off screen.
    centreInRow(document.querySelector(".settings-nav [aria-current='page']"));
  });
  function centreInRow(link) {
    const list = link && link.closest("ul");
    if (list && list.scrollWidth > list.clientWidth) {
      const box = link.getBoundingClientRect(), row = list.getBoundingClientRect();
      list.scrollLeft += box.left + box.width / 2 - (row.left + row.width / 2);
    }
  }
  // So is the one Tab reaches: the browser scrolled it just into the row, under its fading edge, or not at all.
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches(".settings-nav a")) centreInRow(event.target);
  });

  // A box that scrolls sideways on a phone (a wide table) is a Tab stop while it does, so the arrow keys
  // can scroll it: chromium and Firefox make such a box focusable by themselves, Safari does not (axe:
  // scrollable-region-focusable).
  function focusableScrollBoxes() {
    document.querySelectorAll("table.table:not(.table-cards)").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth) box.setAttribute("tabindex", "0");
      else box.removeAttribute("tabindex");
    });
  }
  document.addEventListener("DOMContentLoaded", focusableScrollBoxes);

  // A message's time (the message_time tag) in the browser's time zone and language: the server wrote it in its own
  // (TIME_ZONE), not knowing the user's. The time alone on today's messages, the day before it otherwise (and the
  // year before this one's); the full date and time, with the zone, in the title.
  const timeFormats = {};
  function timeFormat(key, options) {
    if (!timeFormats[key]) timeFormats[key] = new Intl.DateTimeFormat(undefined, options);
    return timeFormats[key];
  }
  function localTimes(scope) {
    if (!scope || !scope.querySelectorAll || typeof Intl === "undefined") return;
    const now = new Date();
    const times = scope.matches && scope.matches("time[data-local-time]") ? [scope] : [];
    scope.querySelectorAll("time[data-local-time]").forEach(function (node) { times.push(node); });
    times.forEach(function (node) {
      const moment = new Date(node.getAttribute("datetime"));
      if (isNaN(moment.getTime())) return;
      const clock = { hour: "numeric", minute: "2-digit" };
      let short;
      if (moment.toDateString() === now.toDateString()) short = timeFormat("time", clock);
      else if (moment.getFullYear() === now.getFullYear()) {
        short = timeFormat("day", Object.assign({ day: "numeric", month: "short" }, clock));
      } else short = timeFormat("year", Object.assign({ day: "numeric", month: "short", year: "numeric" }, clock));
      node.textContent = short.format(moment);
      node.title = timeFormat("full", Object.assign(
        { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZoneName: "short" }, clock
      )).format(moment);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  // Whatever htmx puts in the page: a sent question, a finished reply (the stream's last event), a redrawn thread.
  document.addEventListener("htmx:load", function (event) { localTimes(event.target); });
  window.addEventListener("resize", focusableScrollBoxes);
  document.addEventListener("toggle", focusableScrollBoxes, true); // a table in a closed <details> opens
  document.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-theme-toggle]");
    if (!toggle) return;
    const order = ["system", "light", "dark"];
    const next = order[(order.indexOf(root.dataset.theme || "system") + 1) % order.length];
    root.dataset.theme = next;
    localStorage.setItem("theme", next);
    showTheme(toggle, next);
    // The Settings page's own theme field says the same, as saved: a later Save there kept the old theme.
    document.querySelectorAll("select[name='theme']").forEach(function (select) {
      Array.from(select.options).forEach(function (option) {
        option.selected = option.defaultSelected = option.value === next;
      });
    });
    const url = toggle.dataset.themeUrl;
    if (url) {
      const body = new URLSearchParams({ theme: next });
      fetch(url, { method: "POST", body: body, headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" });
    }
  });
})();

// Chat: Enter sends, Shift+Enter is a new line; the composer waits while a reply streams. A refused message keeps
// its text and says why, next to the box (client checks first, then whatever the server answers).
(function () {
  "use strict";
  const NEAR_LIMIT = 0.8; // the counter shows from 80% of the limit
  const numbers = new Intl.NumberFormat("en");

  function streamingMessage() {
    return document.querySelector(".message[data-streaming]");
  }

  // --- Refusals: shown in the form's error slot (role=alert), the text kept, the focus left in the box ----------

  function errorSlot(form) {
    return form ? form.querySelector("[data-error-slot]") : null;
  }

  function messageInput(form) {
    return form ? form.querySelector("textarea[data-message-input]") : null;
  }

  function markInvalid(form) {
    const input = messageInput(form);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      if (document.activeElement !== input) input.focus();
    }
  }

  function showError(form, text, kind) {
    const slot = errorSlot(form);
    if (slot) {
      slot.textContent = text;
      slot.dataset.kind = kind || "";
    }
    markInvalid(form);
  }

  function clearError(form) {
    const slot = errorSlot(form);
    if (slot && slot.textContent) slot.textContent = "";
    if (slot) {
      delete slot.dataset.kind;
      delete slot.dataset.status;
    }
    const input = messageInput(form);
    if (input) input.removeAttribute("aria-invalid");
  }

  // The server's count: code points (a Python str's length) of the text it keeps, without the blanks around it.
  function characters(text) {
    const trimmed = text.trim();
    const pairs = trimmed.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g);
    return trimmed.length - (pairs ? pairs.length : 0);
  }

  function overLimit(input) {
    const limit = Number(input.dataset.limit);
    return Boolean(limit) && characters(input.value) > limit;
  }

  function limitMessage(input) {
    return "That is too long: the limit is " + numbers.format(Number(input.dataset.limit)) + " characters. Shorten it first.";
  }

  // Submitting is refused past the limit; the composer also waits while a reply streams.
  function syncSubmit(form) {
    if (!form) return;
    // The composer's Send (it holds other submit buttons too: the model menu's star).
    const submit = form.querySelector("[data-send]") || form.querySelector("[type=submit]");
    const input = form.querySelector("[data-limit]");
    const busy = form.id === "composer" && Boolean(streamingMessage());
    // While a reply is written Stop stands in Send's place (app.css hides Send): the focus on Send (a click, or
    // Enter on it) goes to Stop before Send is disabled, which sent it to the page's body.
    const stop = busy && form.querySelector("[data-composer-stop]");
    if (stop && submit && document.activeElement === submit) {
      stop.hidden = false;
      stop.focus();
    }
    if (submit) submit.disabled = Boolean(input && overLimit(input)) || busy;
  }

  // A live counter near the limit, an error past it (announced once, when the text crosses the limit, not per key).
  function updateCount(input) {
    const limit = Number(input.dataset.limit);
    const counter = document.getElementById(input.id + "-count");
    if (!limit) return;
    const used = characters(input.value);
    const over = used > limit;
    if (counter) {
      const near = used >= limit * NEAR_LIMIT;
      counter.hidden = !near;
      counter.classList.toggle("over", over);
      // Emptied when hidden: the box's description (aria-describedby) must not read out a stale count.
      counter.textContent = !near ? "" : numbers.format(used) + " / " + numbers.format(limit) + " characters" +
        (over ? " (" + numbers.format(used - limit) + " too many)" : "");
    }
    const slot = errorSlot(input.form);
    const showing = slot && slot.dataset.kind === "limit";
    if (over && !showing) showError(input.form, limitMessage(input), "limit");
    else if (!over && showing) clearError(input.form);
    syncSubmit(input.form);
  }

  function syncComposer() {
    const composer = document.getElementById("composer");
    if (!composer) return;
    const busy = Boolean(streamingMessage());
    const stop = composer.querySelector("[data-composer-stop]");
    // Stop pressed from the keyboard goes away with the reply: the focus goes back to the message box, not to the
    // top of the page.
    if (stop && !busy && document.activeElement === stop) messageInput(composer).focus();
    if (stop) stop.hidden = !busy;
    composer.toggleAttribute("aria-busy", busy);
    syncSubmit(composer);
  }

  document.addEventListener("input", function (event) {
    const input = event.target;
    if (!input.matches || !input.matches("[data-limit]")) return;
    // Typing again answers the last refusal (an empty message, a quota…); the limit's own error follows the count.
    const slot = errorSlot(input.form);
    if (slot && slot.textContent && slot.dataset.kind !== "limit") clearError(input.form);
    updateCount(input);
  });

  // The composer is not focused on load (Tab reaches the skip link first, not after a cycle through the page), yet
  // typing on a page where nothing has the focus writes into it at once, as if it had been.
  document.addEventListener("keydown", function (event) {
    const composer = document.getElementById("composer-input");
    const nowhere = document.activeElement === document.body || document.activeElement === null;
    if (!composer || !nowhere || event.key.length !== 1 || event.ctrlKey || event.metaKey || event.altKey) return;
    if (!composer.disabled && composer.offsetParent !== null) composer.focus(); // the key's character lands there
  });

  document.addEventListener("keydown", function (event) {
    const input = event.target;
    if (input.id !== "composer-input" || event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (streamingMessage()) return; // Enter waits for the reply (or Stop)
    input.form.requestSubmit(); // checked in htmx:beforeRequest, like a click on Send
  });

  // Arrow Up in an empty message box opens the last question's editor, its text ready to change (Open WebUI's key
  // for it). Not while a reply streams (an edit then waits for it), nor with text in the box (the caret's key there).
  document.addEventListener("keydown", function (event) {
    const input = event.target;
    if (input.id !== "composer-input" || event.key !== "ArrowUp" || input.value || event.isComposing) return;
    if (event.shiftKey || event.ctrlKey || event.metaKey || event.altKey || streamingMessage()) return;
    const editors = document.querySelectorAll("#thread .message-user details.edit-message");
    const last = editors[editors.length - 1];
    if (!last) return;
    event.preventDefault();
    last.open = true; // its toggle puts the focus in its box, the caret at the end
    last.scrollIntoView({ block: "nearest" });
  });

  // Checked before the request: an empty message or one past the limit is refused here, with the reason.
  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = event.detail.elt;
    const input = form && form.matches && form.matches("form") ? messageInput(form) : null;
    if (!input) return;
    // Files alone are a message too (chips in the composer, files kept by an edit).
    const files = form.querySelector('input[name="attachment"], input[name="keep_attachment"]:checked');
    if (form.hasAttribute("data-sending")) {
      // Sent already and on its way, or a new chat's first message accepted and its page opening: a double click
      // on Send (or Enter again) made a second chat of the same question.
      event.preventDefault();
    } else if (!input.value.trim() && !files) {
      event.preventDefault();
      showError(form, "Write a message first.", "empty");
    } else if (overLimit(input)) {
      event.preventDefault();
      showError(form, limitMessage(input), "limit");
    } else if (form.id === "composer" && streamingMessage()) {
      event.preventDefault();
    }
  });

  // A full error page is not shown in a form; a fragment (the server's own message) or short text is.
  function isFragment(xhr) {
    const body = xhr.responseText || "";
    const type = xhr.getResponseHeader("Content-Type") || "";
    // The server's own refusal may be long: a 409 brings the thread with it, to be swapped out of band.
    const short = body.length < 4000 || Boolean(xhr.getResponseHeader("HX-Retarget"));
    return type.indexOf("text/html") === 0 && body.trim() !== "" && short && !/^\s*<(!doctype|html)/i.test(body);
  }

  function genericError(status) {
    if (status === 403) return "Your session has expired: reload the page, then send again. Your text is kept here.";
    if (status === 404) return "This conversation or message no longer exists: it may have been deleted in another tab. Your text is kept here.";
    if (status === 413) return "That is too large to send. Shorten it first.";
    if (status === 429) return "Too many requests: wait a moment, then send again.";
    if (status >= 500) return "Something went wrong on our side. Your text is kept here: try again in a moment.";
    return "That could not be sent (error " + status + "). Your text is kept here.";
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    const detail = event.detail;
    const xhr = detail.xhr;
    if (xhr.status < 400) return;
    // Every refusal is shown, whatever its status (400, 409, 413, 422, 429…). It stays an error (isError is left
    // alone), so htmx:afterRequest reports it unsuccessful and the form is not reset: the text is kept.
    // The element that made the request: htmx fires beforeSwap on the swap's target (detail.elt), which for the
    // composer, Regenerate, Edit and the thumbs is outside their form, and their refusals were shown nowhere.
    const source = (detail.requestConfig && detail.requestConfig.elt) || detail.elt;
    const form = source && source.closest ? source.closest("form") : null;
    // A form of the chat without a slot of its own (Regenerate) says it in the composer's, as a lost connection does.
    const slot = errorSlot(form) || (form ? document.getElementById("composer-error") : null);
    if (slot) {
      // The form's own slot beats the server's default target: an edit's error shows by the edit, not the composer.
      if (isFragment(xhr)) {
        detail.target = slot;
        detail.swapOverride = "innerHTML";
        detail.shouldSwap = true;
      } else {
        detail.shouldSwap = false;
        slot.textContent = genericError(xhr.status);
      }
      slot.dataset.kind = "server";
      slot.dataset.status = String(xhr.status);
    } else if (xhr.getResponseHeader("HX-Retarget") && isFragment(xhr)) {
      detail.shouldSwap = true;
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    const form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    const slot = errorSlot(form) || document.getElementById("composer-error");
    if (slot) {
      slot.textContent = "The server could not be reached: check your connection, then send again. Your text is kept here.";
      slot.dataset.kind = "server";
    }
  });

  document.addEventListener("htmx:beforeSend", function (event) {
    const form = event.detail.elt;
    if (form && form.matches && form.matches("form") && messageInput(form)) form.setAttribute("data-sending", "");
  });

  // Back to a page left by a redirect (the back-forward cache keeps it as it was): its form sends again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) document.querySelectorAll("form[data-sending]").forEach(function (form) { form.removeAttribute("data-sending"); });
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (!form.matches || !form.matches("form")) return;
    const xhr = event.detail.xhr;
    const leaving = xhr && xhr.status < 400 && xhr.getResponseHeader("HX-Redirect");
    if (!leaving) form.removeAttribute("data-sending"); // answered: another may go (a redirect's page is opening)
    // A new chat's first message is answered with the chat's page to open (HX-Redirect, where htmx stops before it
    // says the request succeeded): it was sent all the same, and its draft went on filling every new chat's box. A
    // redirect to sign in is no send: its draft is kept for the way back.
    const redirect = xhr && xhr.status < 400 ? xhr.getResponseHeader("HX-Redirect") : null;
    if (redirect) {
      if (!toSignIn(form, xhr)) {
        storeDraft(form, "");
        keepFocusAcross(form, redirect);
      }
    } else if (event.detail.successful) {
      storeDraft(form, ""); // sent: no draft to keep
      if (form.matches("[data-reset-on-success]")) {
        form.reset();
        clearError(form);
        const input = form.querySelector("[data-limit]");
        if (input) updateCount(input);
      }
    } else if (errorSlot(form) && errorSlot(form).textContent.trim()) {
      markInvalid(form); // the refusal is shown: the box is marked and keeps the focus, the text in it
    }
  });

  // --- The composer's draft, kept in this tab until it is sent ---------------------------------------------------
  // A session ended in another tab (or device) sends the page to sign in (HX-Redirect) and back to the chat: the
  // text being sent was lost on the way. It is kept in sessionStorage (this tab only), per account and chat, until
  // a send succeeds, and put back into an empty composer when the chat's page opens again.

  function draftKey(form) {
    if (!form || form.id !== "composer") return null;
    return "chat-draft:" + (form.dataset.draftScope || "") + ":" + form.getAttribute("action");
  }

  function storeDraft(form, value) {
    const key = draftKey(form);
    if (!key) return;
    try {
      if (value.trim()) sessionStorage.setItem(key, value);
      else sessionStorage.removeItem(key);
    } catch (error) {
      // Storage full or turned off: no draft is kept, nothing else changes.
    }
  }

  function toSignIn(form, xhr) {
    const target = (xhr && xhr.getResponseHeader("HX-Redirect")) || "";
    return Boolean(form.dataset.signIn) && target.indexOf(form.dataset.signIn) === 0;
  }

  document.addEventListener("input", function (event) {
    if (event.target.id === "composer-input") storeDraft(event.target.form, event.target.value);
  });

  // The message box grows with its text (CSS field-sizing); where that is not supported (Firefox, older Safari), its
  // height follows the text here, within the CSS's limits.
  // A question's editor grows the same way.
  const sizesItself = window.CSS && CSS.supports && CSS.supports("field-sizing", "content");
  function fitBox(input) {
    if (sizesItself || !input) return;
    input.style.height = "auto";
    input.style.height = input.scrollHeight + input.offsetHeight - input.clientHeight + "px";
  }
  function fitComposer() {
    fitBox(document.getElementById("composer-input"));
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches(".edit-message textarea")) fitBox(event.target);
    if (event.target.id !== "composer-input") return;
    fitComposer();
    // The box took its room from the thread: a reader following its end keeps the last lines in view.
    const thread = document.getElementById("thread");
    if (thread && followState(thread).on) toThreadEnd(thread);
  });
  document.addEventListener("htmx:afterRequest", function () { window.setTimeout(fitComposer, 0); }); // sent: empty

  // A new chat's first message opens the chat's own page: the focus, in the composer when it was sent, is put back
  // in its message box there (the reply's Stop is a Tab away), not left at the top of the page.
  const FOCUS_KEY = "composer-focus";
  function keepFocusAcross(form, target) {
    if (form.id !== "composer" || !form.contains(document.activeElement)) return;
    try {
      sessionStorage.setItem(FOCUS_KEY, target);
    } catch (error) {
      // Storage turned off: the page opens with the focus at its top, as any page does.
    }
  }

  (function restoreFocus() {
    let wanted = null;
    try {
      wanted = sessionStorage.getItem(FOCUS_KEY);
      sessionStorage.removeItem(FOCUS_KEY);
    } catch (error) {
      return;
    }
    const input = document.getElementById("composer-input");
    if (input && wanted === location.pathname) input.focus({ preventScroll: true });
  })();

  (function restoreDraft() {
    const input = document.getElementById("composer-input");
    const key = input ? draftKey(input.form) : null;
    if (!key || input.value) return;
    let draft = null;
    try {
      draft = sessionStorage.getItem(key);
    } catch (error) {
      return;
    }
    if (draft) {
      input.value = draft;
      updateCount(input);
      fitComposer();
    }
  })();

  // --- Editing a sent message: in place, with Cancel (or Escape) to get the message back as it was ------------

  function closeEditor(details) {
    const form = details.querySelector("form");
    if (form) {
      form.reset();
      clearError(form);
      const input = form.querySelector("[data-limit]");
      if (input) updateCount(input);
    }
    details.open = false;
    details.querySelector("summary").focus();
  }

  document.addEventListener("toggle", function (event) {
    const details = event.target;
    if (!details.matches || !details.matches("details.edit-message")) return;
    const message = details.closest(".message");
    if (message) message.classList.toggle("editing", details.open);
    const input = details.querySelector("textarea");
    if (details.open && input) {
      fitBox(input);
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    }
  }, true); // toggle does not bubble

  // --- The conversations drawer (phones): a menu button opens it, Escape, its Close or the backdrop close it ----

  const narrow = window.matchMedia("(max-width: 768px)");

  function setDrawer(open, returnFocus) {
    const sidebar = document.getElementById("chat-sidebar");
    if (!sidebar) return;
    sidebar.toggleAttribute("data-open", open);
    document.querySelectorAll("[data-drawer-toggle]").forEach(function (toggle) {
      toggle.setAttribute("aria-expanded", String(open));
    });
    document.querySelectorAll(".drawer-backdrop").forEach(function (backdrop) { backdrop.hidden = !open; });
    // While it is open the rest of the page is inert, as behind a dialog: Tab stays in the drawer (the skip link
    // too: it is the first stop after the drawer's last).
    const behind = [".skip-link", ".site-header", "#chat-main"];
    behind.forEach(function (selector) {
      const element = document.querySelector(selector);
      if (element) element.inert = open;
    });
    // Closed, it leaves no chat menu open inside it (Escape from elsewhere in it closes the drawer first).
    if (!open) sidebar.querySelectorAll("details.item-menu[open]").forEach(function (menu) { menu.open = false; });
    if (open) {
      const first = sidebar.querySelector("a[aria-current='page']") || sidebar.querySelector("a[href], button, input");
      if (first) first.focus();
    } else if (returnFocus) {
      const toggle = document.querySelector("[data-drawer-toggle]");
      if (toggle) toggle.focus();
    }
  }

  function drawerOpen() {
    const sidebar = document.getElementById("chat-sidebar");
    return Boolean(sidebar && sidebar.hasAttribute("data-open"));
  }

  // Open WebUI's and ChatGPT's keys for the everyday moves: Ctrl+Shift+O (⌘⇧O) a new chat, Ctrl+K (⌘K) the search
  // box (in the drawer, opened, where the list is one), Shift+Escape back to the message box.
  document.addEventListener("keydown", function (event) {
    if (event.isComposing || event.altKey) return;
    const key = (event.key || "").toLowerCase();
    const command = event.ctrlKey || event.metaKey;
    if (command && event.shiftKey && key === "o") {
      const link = document.querySelector("a.new-chat");
      if (!link) return;
      event.preventDefault();
      window.location.assign(link.href);
    } else if (command && !event.shiftKey && key === "k") {
      const search = document.getElementById("chat-search");
      if (!search) return;
      event.preventDefault();
      if (search.offsetParent === null || (narrow.matches && !drawerOpen()) ||
          document.body.classList.contains("layout-fullscreen") && !drawerOpen()) setDrawer(true, false);
      search.focus();
      search.select();
    } else if (event.shiftKey && !command && key === "escape") {
      // From anywhere: the drawer's search (it closes; Escape's own handler closed it and left the focus on its
      // button) or a question's editor (it stays open, its text kept; Escape's handler cancelled it and left the
      // focus on its Edit).
      const input = document.getElementById("composer-input");
      if (!input || input.disabled) return;
      event.preventDefault();
      if (drawerOpen()) setDrawer(false, false);
      input.focus();
    }
  });

  narrow.addEventListener("change", function (event) {
    // Widened: the list is simply there (in the full-screen layout it stays a drawer).
    if (!event.matches && drawerOpen() && !document.body.classList.contains("layout-fullscreen")) setDrawer(false, false);
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.isComposing || event.defaultPrevented) return; // Shift+Escape was taken
    if (drawerOpen()) {
      event.preventDefault();
      setDrawer(false, true);
      return;
    }
    const details = event.target.closest && event.target.closest("details.edit-message[open]");
    if (details) {
      event.preventDefault();
      closeEditor(details);
      return;
    }
    const sheet = document.querySelector("details[data-sheet][open]");
    if (sheet) {
      event.preventDefault();
      closeSheet(sheet);
      return;
    }
    // Escape in the message box stops the reply being written (Open WebUI's and ChatGPT's key for it), as Stop does.
    const stop = document.querySelector("#composer [data-composer-stop]");
    if (event.target.id === "composer-input" && !event.shiftKey && stop && streamingMessage()) {
      event.preventDefault();
      stop.click();
      return;
    }
    // And on a streaming reply's own Stop, where Regenerate and Save & send put the focus: Escape works there too.
    const own = event.target.closest && event.target.closest(".message[data-streaming] [data-stop-stream]");
    if (own && !event.shiftKey && !own.disabled) {
      event.preventDefault();
      own.click();
    }
  });

  // A sheet (the conversation settings) closes on Escape or its Close button (the focus back on its summary), on a
  // click outside it, as a menu does, and when the keyboard's focus moves out of it (Tab past its last control went
  // on to what it covers).
  function closeSheet(sheet) {
    sheet.open = false;
    sheet.querySelector("summary").focus();
  }

  document.addEventListener("click", function (event) {
    const close = event.target.closest("[data-sheet-close]");
    if (close) {
      closeSheet(close.closest("details[data-sheet]"));
      return;
    }
    document.querySelectorAll("details[data-sheet][open]").forEach(function (sheet) {
      // The sheet's own box is its backdrop on a phone (a pseudo-element of the details element).
      if (!sheet.contains(event.target) || event.target === sheet) sheet.open = false;
    });
  });
  // So does a chat's menu in the sidebar (Tab past its last item left it open over the list).
  document.addEventListener("focusout", function (event) {
    const open = event.target.closest && event.target.closest("details[data-sheet][open], details.item-menu[open]");
    if (open && event.relatedTarget && !open.contains(event.relatedTarget)) open.open = false;
  });

  // Closing the sheet keeps what was typed in its forms, but said nothing of it not being saved: its button then
  // says "not saved" until the sheet opens again. A form the server saved takes its values as the saved ones.
  function unsavedIn(form) {
    return Array.from(form.elements).some(function (field) {
      if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
      if (field.tagName === "SELECT") {
        return Array.from(field.options).some(function (option) { return option.selected !== option.defaultSelected; });
      }
      if (["hidden", "submit", "button", "file"].indexOf(field.type) !== -1) return false;
      return "defaultValue" in field && field.value !== field.defaultValue;
    });
  }
  function markSaved(form) {
    Array.from(form.elements).forEach(function (field) {
      if (field.type === "checkbox" || field.type === "radio") field.defaultChecked = field.checked;
      else if (field.tagName === "SELECT") Array.from(field.options).forEach(function (o) { o.defaultSelected = o.selected; });
      else if ("defaultValue" in field && field.type !== "file") field.defaultValue = field.value;
    });
  }
  document.addEventListener("toggle", function (event) {
    const sheet = event.target;
    if (!sheet.matches || !sheet.matches("details[data-sheet]")) return;
    const summary = sheet.querySelector("summary");
    let mark = summary.querySelector(".unsaved-mark");
    const unsaved = !sheet.open && Array.from(sheet.querySelectorAll("form")).some(unsavedIn);
    if (unsaved && !mark) {
      mark = document.createElement("span");
      mark.className = "unsaved-mark";
      mark.textContent = " •";
      const words = document.createElement("span");
      words.className = "narrow-hidden";
      words.textContent = " not saved";
      mark.appendChild(words);
      summary.appendChild(mark);
    } else if (!unsaved && mark) {
      mark.remove();
    }
  }, true);  // toggle does not bubble
  document.addEventListener("htmx:afterRequest", function (event) {
    const elt = event.detail.elt;
    const form = elt && elt.closest ? elt.closest("details[data-sheet] form") : null;
    if (form && event.detail.successful) markSaved(form);
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-drawer-toggle]")) {
      setDrawer(!drawerOpen(), false);
      return;
    }
    if (event.target.closest("[data-drawer-close]")) {
      setDrawer(false, true);
      return;
    }
    const cancel = event.target.closest("[data-edit-cancel]");
    if (cancel) {
      closeEditor(cancel.closest("details"));
      return;
    }
    const stop = event.target.closest("[data-composer-stop]");
    if (stop) {
      // Every reply streaming: side-by-side answers stream two or three at once.
      document.querySelectorAll(".message[data-streaming] [data-stop-stream]").forEach(function (button) { button.click(); });
      return;
    }
    const confirmButton = event.target.closest("[data-confirm]");
    if (confirmButton && !window.confirm(confirmButton.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    const copy = event.target.closest("[data-copy], [data-copy-message]");
    if (copy) {
      // A reply with tool calls has its text in several parts, one between each call and the next.
      const message = copy.closest(".message");
      const sources = copy.matches("[data-copy]")
        ? [copy.closest(".code-block").querySelector("pre code")]
        : Array.from(message.querySelectorAll(".markdown, .user-text")); // a reply's, or the question as written
      if (sources.length && sources[0] && navigator.clipboard) {
        // A reply's text without its code blocks' bars: "python" and "Copy" were copied with every block.
        if (message) message.classList.add("copying");
        const text = sources.map(function (source) { return source.innerText; }).join("\n\n");
        if (message) message.classList.remove("copying");
        navigator.clipboard.writeText(text).then(function () {
          const label = copy.textContent;
          copy.textContent = "Copied";
          setTimeout(function () { copy.textContent = label; }, 1500);
        });
      }
    }
  });

  // --- A streaming reply: its markdown rendered as it grows, the finished reply announced once ----------------

  // As the server renders it (chatbot/markdown.py): CommonMark, tables, strikethrough, no raw HTML; DOMPurify on
  // top with the server's allow-list. The server's own rendering replaces this one at the done event.
  const PURIFY = {
    ALLOWED_TAGS: [
      "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h1", "h2",
      "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "span", "div", "sup",
    ],
    ALLOWED_ATTR: ["href", "title", "class", "start"],
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
  };
  let markdown = null;

  function markdownRenderer() {
    if (markdown) return markdown;
    if (!window.markdownit || !window.DOMPurify || !window.DOMPurify.isSupported) return null; // raw text stays
    markdown = window.markdownit("commonmark", { html: false, linkify: false, typographer: false })
      .enable(["table", "strikethrough"]);
    const escape = markdown.utils.escapeHtml;
    // An image becomes a link to it: the reader's browser fetches nothing a reply names (and the CSP blocks it).
    markdown.renderer.rules.image = function (tokens, index, options, env, self) {
      const token = tokens[index];
      const alt = self.renderInlineAsText(token.children || [], options, env) || "image";
      return '<a href="' + escape(token.attrGet("src") || "") + '">[image: ' + escape(alt) + "]</a>";
    };
    window.DOMPurify.addHook("afterSanitizeAttributes", function (node) {
      if (node.tagName === "A") node.setAttribute("rel", "nofollow noopener noreferrer");
    });
    return markdown;
  }

  const dirty = new Set();
  let frame = 0;

  // Whether the thread follows its end: a change in it (a reply growing) keeps the reader there, and leaves them
  // where they are once they scrolled up to read. Decided by what the reader did, not only by where the thread
  // stands: a trackpad's or a finger's scroll, or a wheel's smooth one, moves a few pixels a frame, each still
  // "within a line of the end", and the next frame of the reply put it back there: a streaming reply could not be
  // scrolled up at all. Any scroll up leaves the end; reaching the end again (or "Latest") follows it again.
  const FOLLOW_SLACK = 48; // a line: at most this far from the end counts as there
  const follow = new WeakMap(); // thread -> { top: its last scrollTop, on: true | false | null (by position) }
  function gapBelow(thread) {
    return thread.scrollHeight - thread.scrollTop - thread.clientHeight;
  }
  function followState(thread) {
    let state = follow.get(thread);
    if (!state) {
      state = { top: thread.scrollTop, on: null };
      follow.set(thread, state);
    }
    return state;
  }
  function atThreadEnd(thread) {
    const on = followState(thread).on;
    return on === null ? gapBelow(thread) < FOLLOW_SLACK : on;
  }
  function toThreadEnd(thread) {
    thread.scrollTop = thread.scrollHeight;
    const state = followState(thread);
    state.top = thread.scrollTop;
    state.on = true;
    syncJump(thread);
  }
  function leaveThreadEnd(thread) {
    followState(thread).on = false;
    syncJump(thread);
  }
  // "Latest" (under the thread) shows while the reader is away from the end, a reply streaming or not.
  function syncJump(thread) {
    const button = document.querySelector("[data-jump-to-end]");
    if (!button || thread.id !== "thread") return;
    const away = !atThreadEnd(thread) && gapBelow(thread) > FOLLOW_SLACK;
    if (button.hidden === away) button.hidden = !away;
  }
  document.addEventListener("scroll", function (event) {
    const thread = event.target;
    if (!thread.classList || !thread.classList.contains("thread")) return;
    const state = followState(thread);
    const gap = gapBelow(thread);
    // Up by the reader: a thread that shrank under its end (a finished reply shorter than it streamed) is brought
    // up by the browser too, and stays at the end.
    if (thread.scrollTop < state.top - 1 && gap > 1) state.on = false;
    else if (gap < FOLLOW_SLACK) state.on = true;
    state.top = thread.scrollTop;
    syncJump(thread);
  }, true); // scroll does not bubble
  // A wheel turned up leaves the end before its smooth scroll's first frame, which the reply's next frame undid.
  document.addEventListener("wheel", function (event) {
    const thread = event.deltaY < 0 && event.target.closest ? event.target.closest(".thread") : null;
    if (thread && thread.scrollTop > 0) leaveThreadEnd(thread);
  }, { passive: true });
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-jump-to-end]");
    const thread = button && document.getElementById("thread");
    if (!thread) return;
    toThreadEnd(thread);
    // The button goes away with the click: the keyboard goes on from the message box, not the top of the page.
    const input = document.getElementById("composer-input");
    if (input && !input.disabled) input.focus({ preventScroll: true });
  });

  // A reply's raw markdown as sanitised HTML (the same rules as the server's; null until the renderer is loaded).
  function renderedMarkdown(text) {
    const renderer = markdownRenderer();
    return renderer ? window.DOMPurify.sanitize(renderer.render(text), PURIFY) : null;
  }

  function renderDirty() {
    frame = 0;
    const renderer = markdownRenderer();
    dirty.forEach(function (source) {
      const target = source.isConnected && source.parentElement.querySelector(".streaming-markdown");
      if (!renderer || !target) return;
      const thread = source.closest(".thread");
      const following = thread && atThreadEnd(thread);
      target.innerHTML = renderedMarkdown(source.textContent);
      decorateCodeBlocks(target, true);
      target.hidden = false;
      source.hidden = true;
      if (following) toThreadEnd(thread); // keep up with the reply unless the reader scrolled up
      else if (thread) syncJump(thread); // the reply grew below the reader: "Latest" shows
    });
    dirty.clear();
  }

  // A tool call ends the text written so far (tools.js): it is rendered for good, before the call's card, and
  // the text after the call streams in below the card. Returns the element after which the card goes.
  window.chatFreezeStreamingText = function (bubble) {
    const source = bubble.querySelector(".streaming-text");
    const target = bubble.querySelector(".streaming-markdown");
    if (!source || !target || !source.textContent.trim()) return null;
    dirty.delete(source);
    const part = document.createElement("div");
    part.className = "markdown";
    const html = renderedMarkdown(source.textContent);
    if (html !== null) part.innerHTML = html;
    else part.textContent = source.textContent; // the renderer is not loaded: the raw text, as it streamed
    source.before(part);
    source.textContent = "";
    target.innerHTML = "";
    target.hidden = true;
    return part;
  };

  // Each delta is appended to the raw text by htmx; the rendering follows at most once per frame.
  document.addEventListener("htmx:sseMessage", function (event) {
    const source = event.target;
    if (!source.classList || !source.classList.contains("streaming-text")) return;
    dirty.add(source);
    if (!frame) frame = window.requestAnimationFrame(renderDirty);
  });

  function announce(text) {
    const region = document.getElementById("chat-announcer");
    if (!region) return;
    region.textContent = "";
    setTimeout(function () { region.textContent = text; }, 100); // a change even when two replies read the same
  }

  // Any event of a reply (a tool's card, the finished bubble with its sources and actions, taller than the
  // streaming one) keeps a reader at the end there: it stopped short of the end when the reply finished.
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    const thread = event.target.closest && event.target.closest(".thread");
    if (thread && atThreadEnd(thread)) window.requestAnimationFrame(function () { toThreadEnd(thread); });
  });

  // The done event carries the finished bubble: read its text out once (a failure announces itself: role=alert).
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    if (event.detail.type !== "done") return;
    const template = document.createElement("template");
    template.innerHTML = event.detail.data;
    const reply = template.content.querySelector(".message");
    if (!reply || reply.matches(".message-failed")) return;
    const parts = Array.from(reply.querySelectorAll(".markdown"));
    let text = parts.map(function (part) { return part.textContent; }).join(" ").replace(/\s+/g, " ").trim();
    if (text.length > 1000) text = text.slice(0, 1000) + "… (the reply continues in the conversation)";
    // Side-by-side answers finish one by one: each says whose it is (its column's label, "Answer from …").
    const column = event.target.closest ? event.target.closest(".compare-column") : null;
    const whose = column ? column.getAttribute("aria-label") + ". " : "";
    announce(whose + (reply.matches(".message-cancelled") ? "Reply stopped: " : "Reply: ") + text);
  });

  // A code block gets a bar above it: its language (the fence's, "python") and Copy. Copy sat over the block's top
  // right corner, on the first line's end (a phone's narrow block hid code under it), and scrolled away with a wide
  // block. A reply streaming gets the bar too, without Copy, the same height: the block does not jump when the
  // server's rendering replaces it.
  function decorateCodeBlocks(root, streaming) {
    const selector = streaming ? "pre" : ".markdown:not(.streaming-markdown) pre";
    (root || document).querySelectorAll(selector).forEach(function (pre) {
      if (pre.parentElement.classList.contains("code-block")) return;
      const code = pre.querySelector("code");
      const language = code ? /(?:^|\s)language-(\S+)/.exec(code.className) : null;
      const block = document.createElement("div");
      block.className = "code-block";
      const bar = document.createElement("div");
      bar.className = "code-header";
      const label = document.createElement("span");
      label.className = "code-language";
      label.textContent = language ? language[1] : "";
      bar.appendChild(label);
      if (!streaming) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "copy-code";
        button.dataset.copy = "";
        button.textContent = "Copy";
        // Which block, for a list of buttons read out of context ("Copy python code").
        button.setAttribute("aria-label", language ? "Copy " + language[1] + " code" : "Copy code");
        bar.appendChild(button);
      }
      pre.before(block);
      block.append(bar, pre);
    });
  }
  function addCopyButtons(root) {
    decorateCodeBlocks(root, false);
  }

  // A swap inside the thread (a vote and its follow-up, a branch's arrows) keeps a reader at the end there.
  let followedThread = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    const target = event.detail.target;
    const thread = target && target.closest ? target.closest(".thread") : null;
    followedThread = thread && thread !== target && atThreadEnd(thread) ? thread : null;
  });

  // A thumbs down opens "What went wrong?" under the reply: it is brought into view, not left below the screen.
  document.addEventListener("toggle", function (event) {
    const details = event.target;
    if (details.open && details.matches && details.matches(".vote-feedback")) details.scrollIntoView({ block: "nearest" });
  }, true); // toggle does not bubble

  document.addEventListener("htmx:afterSettle", function (event) {
    addCopyButtons(event.target);
    syncComposer();
    // A sent message is appended to the thread: bring the new reply into view.
    if (event.target.id === "thread" && event.target.lastElementChild) {
      event.target.lastElementChild.scrollIntoView({ block: "end" });
      toThreadEnd(event.target);
    }
    if (followedThread && followedThread.isConnected) toThreadEnd(followedThread);
    followedThread = null;
    const shown = document.getElementById("thread");
    if (shown) syncJump(shown);
    const opened = event.target.querySelector ? event.target.querySelector(".vote-feedback[open]") : null;
    if (opened) opened.scrollIntoView({ block: "nearest" });
    // An action naming what takes the focus once its swap settles (data-focus-after, a selector; data-focus-else if
    // that one is disabled or missing): "Continue with this answer", Regenerate, an edit and the version arrows
    // replace the thread, themselves included, and the keyboard goes on from what they made (the answer chosen,
    // the new reply's Stop, the same arrow), not from the top of the page. Not after a refusal (shown elsewhere).
    const trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
    const refused = event.detail.xhr && event.detail.xhr.status >= 400;
    const named = trigger && trigger.dataset && !refused;
    const wanted = named ? [trigger.dataset.focusAfter, trigger.dataset.focusElse] : [];
    const focusTarget = wanted.map(function (selector) { return selector && document.querySelector(selector); })
      .filter(function (element) { return element && !element.disabled; })[0];
    if (focusTarget) {
      const control = focusTarget.matches("button, a[href], input, select, textarea, summary");
      if (!control) focusTarget.setAttribute("tabindex", "-1"); // an answer chosen: a message, focused to read from
      focusTarget.focus();
    }
  });
  document.addEventListener("htmx:sseClose", syncComposer);
  // A reply's own Stop (or a tool's card in it) had the focus: the finished reply replaces it all, and the focus goes
  // on to the reply's first action (Regenerate, Retry, Continue with this answer), not to the top of the page.
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    if (event.detail.type !== "done") return;
    const streaming = event.target.closest ? event.target.closest(".message") : null;
    if (!streaming || !streaming.contains(document.activeElement)) return;
    window.setTimeout(function () {
      const reply = document.getElementById(streaming.id);
      if (!reply || reply === streaming || reply.contains(document.activeElement)) return;
      const action = reply.querySelector(".message-actions button, .message-actions summary");
      if (action) action.focus();
    }, 0);
  });
  // "Wait for the current reply to finish" (409) is answered when the last reply streaming here ends: it is not left
  // on screen under a finished reply. Checked once the done event's bubble has replaced the streaming one.
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    if (event.detail.type !== "done") return;
    window.setTimeout(function () {
      const composer = document.getElementById("composer");
      const slot = errorSlot(composer);
      if (slot && slot.dataset.status === "409" && !streamingMessage()) clearError(composer);
    }, 0);
  });
  document.addEventListener("DOMContentLoaded", function () {
    addCopyButtons(document);
    syncComposer();
    document.querySelectorAll("[data-limit]").forEach(updateCount); // a restored draft may be long already
    const thread = document.getElementById("thread");
    // A link to one message (a search result, #message-<id>) shows that message, marked (CSS :target), not the
    // thread's end; it takes the focus, so a screen reader starts there.
    const linked = location.hash.indexOf("#message-") === 0 && document.getElementById(location.hash.slice(1));
    if (thread && linked && thread.contains(linked)) {
      linked.scrollIntoView({ block: "center" });
      linked.setAttribute("tabindex", "-1");
      linked.focus({ preventScroll: true });
      syncJump(thread); // the messages after it are a click away
    } else if (thread && thread.lastElementChild) {
      thread.lastElementChild.scrollIntoView({ block: "end" });
      toThreadEnd(thread); // its padding under the last message too
    }
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

// The composer's model menu: the choice outlives the form's reset after sending (the conversation is on it now),
// and the star beside it shows whether the chosen model is a favourite.
document.addEventListener("change", function (event) {
  "use strict";
  const select = event.target.closest && event.target.closest("[data-model-select]");
  if (!select) return;
  Array.prototype.forEach.call(select.options, function (option) { option.defaultSelected = option.selected; });
  const chosen = select.options[select.selectedIndex];
  const picker = select.closest(".model-picker");
  const star = picker && picker.querySelector("[data-favourite-toggle]");
  if (star && chosen) star.setAttribute("aria-pressed", chosen.dataset.favourite === "true" ? "true" : "false");
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

  // More files than one request takes (a documentation folder of hundreds of pages) go in parts, one after the
  // other, with the count on the page; the server adds the parts up and the list then says the total once. A form
  // post of them all would be refused whole (Django's limit on files per request) or cut at the first part.
  function uploadInParts(zone, files, left) {
    const input = zone.querySelector("input[type=file][name]");
    const size = parseInt(zone.dataset.maxFiles, 10) || 20;
    const status = zone.querySelector("[data-upload-progress]");
    const button = zone.querySelector("button[type=submit]");
    const series = String(Date.now()) + Math.random().toString(16).slice(2);
    const parts = [];
    for (let start = 0; start < files.length; start += size) parts.push(files.slice(start, start + size));
    if (button) button.disabled = true;
    function say(text) {
      if (!status) return;
      status.hidden = false;
      status.textContent = text;
    }
    function send(index) {
      if (index === parts.length) {
        window.location.assign(zone.dataset.done || window.location.pathname);
        return;
      }
      const sent = index * size;
      say("Uploading files " + (sent + 1) + "\u2013" + (sent + parts[index].length) + " of " + files.length + "\u2026");
      const body = new FormData();
      zone.querySelectorAll("input[type=hidden], input[type=checkbox]:checked").forEach(function (field) {
        body.append(field.name, field.value);
      });
      parts[index].forEach(function (file) { body.append(input.name, file, file.name); });
      body.append("series", series);
      if (index === parts.length - 1) {
        body.append("last", "1");
        if (left && left.count) {
          body.append("left_out", String(left.count));
          body.append("left_out_kinds", left.kinds.join(" "));
        }
      }
      // The answer is a redirect to the list, which would show (and use up) the messages: it is not followed.
      fetch(zone.action, { method: "POST", body: body, credentials: "same-origin", redirect: "manual" })
        .then(function (response) {
          if (response.type !== "opaqueredirect" && !response.ok) throw new Error(String(response.status));
          send(index + 1);
        })
        .catch(function () {
          say("The upload stopped after " + sent + " of " + files.length + " files. Reload the page to see " +
            "what arrived, then choose the rest again (files already uploaded are recognised).");
          if (button) button.disabled = false;
        });
    }
    send(0);
  }

  document.addEventListener("submit", function (event) {
    const zone = event.target.closest && event.target.closest("[data-upload-zone][data-max-files]");
    if (!zone || !window.fetch || !window.FormData) return;
    const files = Array.from(zone.querySelector("input[type=file][name]").files || []);
    if (files.length <= parseInt(zone.dataset.maxFiles, 10)) return;
    event.preventDefault();
    uploadInParts(zone, files, null);
  });

  // A whole folder (a documentation tree, its subfolders included): only the files the page takes go up (the
  // file input's accept list, by name); stylesheets, images and archives are left out and counted. The input has
  // no name, so a form posted without this script never sends it; it is shown only where browsers offer it.
  document.querySelectorAll("[data-upload-folder]").forEach(function (folder) {
    const input = folder.querySelector("input[type=file]");
    if (!("webkitdirectory" in input) || !window.fetch || !window.FormData) return;
    folder.hidden = false;
    input.addEventListener("change", function () {
      const zone = input.closest("[data-upload-zone]");
      const accepted = (zone.querySelector("input[type=file][name]").accept || "").split(",")
        .filter(function (entry) { return entry.charAt(0) === "."; });
      const files = [];
      const kinds = [];
      let count = 0;
      Array.from(input.files || []).forEach(function (file) {
        const name = file.name.toLowerCase();
        const dot = name.lastIndexOf(".");
        const extension = dot > 0 ? name.slice(dot) : "";
        if (name.charAt(0) === ".") return; // a hidden file (.DS_Store): nobody chose it, nobody is told of it
        // A Sphinx build keeps each page's source beside it (_sources/page.rst.txt): the page is read already, and
        // the same text twice would take two places in every answer's sources.
        if (/(^|\/)(_sources|\.doctrees)\//.test(file.webkitRelativePath || "")) {
          count += 1;
          if (kinds.indexOf("_sources") < 0 && kinds.length < 8) kinds.push("_sources");
          return;
        }
        if (accepted.indexOf(extension) >= 0) {
          files.push(file);
          return;
        }
        count += 1;
        if (extension && kinds.indexOf(extension) < 0 && kinds.length < 8) kinds.push(extension);
      });
      if (!files.length) {
        const status = zone.querySelector("[data-upload-progress]");
        status.hidden = false;
        status.textContent = "That folder has no file this page takes (" + accepted.join(" ") + ").";
        return;
      }
      uploadInParts(zone, files, { count: count, kinds: kinds });
    });
  });
})();

// The page's <dialog id="modal">: htmx fills #modal-content, this opens it as a modal,
// moves focus in, and on close (Escape, Cancel, Done) empties it and returns focus to the
// button that opened it. Also: copy-to-clipboard buttons and the row "Copy API Key" forms.
"use strict";

(function () {
  let opener = null;

  const modal = () => document.getElementById("modal");

  function focusInside(dialog) {
    const target =
      dialog.querySelector("[aria-invalid='true']") ||
      dialog.querySelector("[data-autofocus]") ||
      dialog.querySelector(".modal-body input[type=radio]:checked") ||
      dialog.querySelector(
        ".modal-body input:not([type=hidden]):not([readonly]), .modal-body textarea, .modal-body select"
      ) ||
      dialog.querySelector("button, [href]");
    if (target) target.focus();
  }

  function open(dialog) {
    if (!dialog.open) dialog.showModal();
    else if (!dialog.matches(":modal")) {
      // Rendered open by the server (no-htmx fallback): reopen it as a real modal.
      dialog.close();
      dialog.showModal();
    }
    // Outside an open modal everything is inert and under its backdrop: move the toasts
    // (a live region) inside, so they show and are announced; back to <body> on close.
    const toasts = document.getElementById("toasts");
    if (toasts && toasts.parentElement !== dialog) dialog.appendChild(toasts);
    focusInside(dialog);
  }

  function restoreFocus() {
    // The opener may have been replaced by a fresh copy of the table: find it again by id.
    let target = opener;
    if (target && !target.isConnected && target.id) target = document.getElementById(target.id);
    if (!target || !target.isConnected) target = document.getElementById("add-api-key");
    if (!target || !target.isConnected) target = document.querySelector("main h1");
    if (target) {
      if (!target.matches("a, button, input, [tabindex]")) target.setAttribute("tabindex", "-1");
      target.focus();
    }
    opener = null;
  }

  // Validation errors come back as 422 with the form and its errors: swap them in.
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    const dialog = modal();
    if (dialog && dialog.contains(event.detail.target)) open(dialog);
  });

  document.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr.status;
    const text = status === 403 ? "You don't have permission to do that." : "Something went wrong. Please try again.";
    if (typeof showToast === "function") showToast(text, "error");
  });

  document.addEventListener("click", (event) => {
    const trigger = event.target.closest("[data-modal-opener]");
    if (trigger) opener = trigger;
    const closer = event.target.closest("[data-modal-close]");
    if (closer) {
      const dialog = closer.closest("dialog");
      if (dialog) {
        event.preventDefault();
        dialog.close();
      }
    }
  });

  // Events named by the server in HX-Trigger headers.
  document.addEventListener("closeModal", () => {
    const dialog = modal();
    if (dialog && dialog.open) dialog.close();
  });
  document.addEventListener("showToast", (event) => {
    if (typeof showToast === "function") showToast(event.detail.message, event.detail.kind);
  });

  // --- clipboard ----------------------------------------------------------------------

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const scratch = document.createElement("textarea");
    scratch.value = text;
    scratch.setAttribute("readonly", "");
    scratch.className = "sr-only";
    document.body.appendChild(scratch);
    scratch.select();
    const copied = document.execCommand("copy");
    scratch.remove();
    if (!copied) throw new Error("copy failed");
  }

  // A button that copies the value of the input named by data-copy-target.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const input = document.querySelector(button.dataset.copyTarget);
    if (!input) return;
    try {
      await copyText(input.value);
      showToast(button.dataset.copied || "Copied to clipboard");
    } catch {
      input.focus();
      input.select();
      showToast("Couldn't copy automatically. The key is selected: press Ctrl+C (⌘C on a Mac).", "error");
    }
  });

  // A form whose POST answers {"key": "..."}: fetch it and copy it, without showing it.
  // Without JavaScript the same form posts normally and the page shows the key.
  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-copy-key]");
    if (!form) return;
    event.preventDefault();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      const data = await response.json().catch(() => ({}));
      if (data.sudo && window.htmx) {
        // Sudo mode: the password (and code) first, in the modal; the reveal goes on from there.
        opener = button;
        htmx.ajax("POST", form.action, { source: form, target: "#modal-content" });
        return;
      }
      if (!response.ok || !data.key) {
        showToast(data.error || "Couldn't get the API key. Please try again.", "error");
        return;
      }
      await copyText(data.key);
      showToast(form.dataset.copied || "Copied to clipboard");
    } catch {
      showToast("Couldn't copy the API key. Please try again.", "error");
    } finally {
      if (button) button.disabled = false;
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    const dialog = modal();
    if (!dialog) return;
    dialog.addEventListener("close", () => {
      // Nothing secret stays in the page once the dialog is gone.
      const content = document.getElementById("modal-content");
      if (content) content.replaceChildren();
      const toasts = document.getElementById("toasts");
      if (toasts && toasts.parentElement === dialog) document.body.appendChild(toasts);
      restoreFocus();
    });
    if (dialog.hasAttribute("open")) open(dialog);
  });
})();

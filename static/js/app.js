// Small behaviours shared by every page: toasts that disappear, copy to clipboard.
"use strict";

function showToast(text, kind) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const toast = document.createElement("div");
  toast.className = "toast toast-" + (kind || "success");
  toast.setAttribute("role", "status");
  toast.textContent = text;
  box.appendChild(toast);
  dismissLater(toast);
}

function dismissLater(toast) {
  setTimeout(() => toast.classList.add("hiding"), 3500);
  setTimeout(() => toast.remove(), 3900);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#toasts .toast").forEach(dismissLater);
});

// An inline error goes away as soon as the value it was about is changed: the server checks
// again on the next submit, and a stale message next to a corrected value only confuses.
document.addEventListener("input", (event) => {
  const field = event.target.closest(".field.has-error");
  if (!field) return;
  field.classList.remove("has-error");
  field.querySelectorAll(".errorlist").forEach((list) => list.remove());
  field.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
});

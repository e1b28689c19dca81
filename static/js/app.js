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

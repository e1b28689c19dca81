// Document page: pointing at a field (or moving to it with Tab) outlines where it was read
// on the page picture. The box comes in page units (PDF points or image pixels) in the
// row's data-box; the picture is shown scaled, so the outline is scaled to it. Under the
// strict CSP no inline style is allowed: the position goes in CSS custom properties.
"use strict";

(function () {
  const PAD = 3; // px around the box, so the outline does not cover the text

  function frameOf(row) {
    return document.querySelector(`.page-frame[data-page="${row.dataset.page}"]`);
  }

  let current = null; // the row whose source is shown (or waits for its picture)

  function hideAll() {
    current = null;
    document.querySelectorAll(".source-outline").forEach((outline) => { outline.hidden = true; });
  }

  function show(row) {
    hideAll();
    current = row;
    const frame = frameOf(row);
    if (!frame || !frame.dataset.width || !frame.dataset.height) return;
    const image = frame.querySelector("img");
    const outline = frame.querySelector(".source-outline");
    if (!image || !outline) return;
    if (!image.complete || !image.clientWidth) {
      // Not loaded yet: draw it once the picture is there, if the row is still chosen.
      image.addEventListener("load", () => { if (current === row) show(row); }, { once: true });
      return;
    }
    const [x0, y0, x1, y1] = row.dataset.box.split(",").map(Number);
    const scaleX = image.clientWidth / Number(frame.dataset.width);
    const scaleY = image.clientHeight / Number(frame.dataset.height);
    const left = image.offsetLeft + image.clientLeft;
    const top = image.offsetTop + image.clientTop;
    const set = (name, value) => outline.style.setProperty(name, `${Math.round(value)}px`);
    set("--outline-x", left + x0 * scaleX - PAD);
    set("--outline-y", top + y0 * scaleY - PAD);
    set("--outline-w", (x1 - x0) * scaleX + 2 * PAD);
    set("--outline-h", (y1 - y0) * scaleY + 2 * PAD);
    outline.hidden = false;
    outline.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  function sourceRow(target) {
    return target instanceof Element ? target.closest("tr[data-box]") : null;
  }

  document.addEventListener("mouseover", (event) => {
    const row = sourceRow(event.target);
    if (row) show(row);
  });
  document.addEventListener("mouseout", (event) => {
    const row = sourceRow(event.target);
    if (row && !row.contains(event.relatedTarget) && !row.contains(document.activeElement)) hideAll();
  });
  document.addEventListener("focusin", (event) => {
    const row = sourceRow(event.target);
    if (row) show(row);
  });
  document.addEventListener("focusout", (event) => {
    const row = sourceRow(event.target);
    if (row && !row.contains(event.relatedTarget)) hideAll();
  });

  // In-place correction: Escape cancels; after Save or Cancel, focus goes back to the row.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const form = event.target instanceof Element ? event.target.closest(".inline-edit") : null;
    const cancel = form && form.querySelector("[data-cancel]");
    if (cancel) {
      event.preventDefault();
      // Escape right after the form came in can beat htmx to the new link: bind it first
      // (a no-op once bound), or the click only follows its #fragment and nothing cancels.
      if (window.htmx) window.htmx.process(cancel);
      cancel.click();
    }
  });
  document.addEventListener("htmx:afterSwap", () => {
    const row = document.querySelector("tr[data-refocus]");
    if (!row) return;
    row.removeAttribute("data-refocus");
    const button = row.querySelector(".actions a");
    if (button) button.focus();
  });
})();

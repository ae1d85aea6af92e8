// mamori console: enhancements only. Every page reads and works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: shown only when the clipboard is there to use.
  for (const b of document.querySelectorAll("button[data-copy]")) {
    if (!navigator.clipboard) continue;
    b.hidden = false;
    b.addEventListener("click", () => {
      navigator.clipboard.writeText(b.dataset.copy).then(() => {
        const was = b.textContent;
        b.textContent = "Copied";
        setTimeout(() => { b.textContent = was; }, 1200);
      });
    });
  }

  // The account switcher submits on change.
  for (const s of document.querySelectorAll("select[data-autosubmit]")) {
    s.addEventListener("change", () => s.form.submit());
  }

  // Forms that destroy something ask first.
  for (const f of document.querySelectorAll("form[data-confirm]")) {
    f.addEventListener("submit", (e) => {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    });
  }

  // Auto-refresh (overview and lists): a checkbox, remembered per page.
  const auto = document.querySelector("input[data-autorefresh]");
  if (auto) {
    auto.closest("label").hidden = false;
    const key = "mamori.autorefresh." + location.pathname;
    auto.checked = localStorage.getItem(key) === "1";
    let timer = null;
    const arm = () => {
      clearInterval(timer);
      if (auto.checked) timer = setInterval(() => location.reload(), 30000);
    };
    auto.addEventListener("change", () => {
      localStorage.setItem(key, auto.checked ? "1" : "0");
      arm();
    });
    arm();
  }

  // Keyboard: j / k move through table rows with links, Enter opens, / focuses the filter.
  const rows = Array.from(document.querySelectorAll("table.list tbody tr")).filter((r) => r.querySelector("a"));
  let at = -1;
  const mark = (i) => {
    if (!rows.length) return;
    if (at >= 0) rows[at].classList.remove("cursor");
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows[at].classList.add("cursor");
    rows[at].scrollIntoView({ block: "nearest" });
  };
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement) return;
    if (e.key === "j") mark(at + 1);
    else if (e.key === "k") mark(at - 1);
    else if (e.key === "Enter" && at >= 0) rows[at].querySelector("a").click();
    else if (e.key === "/") {
      const f = document.querySelector("form.filters input, form.filters select");
      if (f) { e.preventDefault(); f.focus(); }
    }
  });
});

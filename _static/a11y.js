// Accessibility helpers for the book (issue 20): an image grid that scrolls sideways on a
// phone sits in a region a keyboard can reach and scroll (WCAG 2.1.1); a hidden cell's
// "Show code cell source" toggle is named by the words it shows (myst-nb labels every one
// "Toggle hidden content", which a speech-input user cannot say: WCAG 2.5.3).
document.addEventListener("DOMContentLoaded", () => {
  for (const summary of document.querySelectorAll('details.hide > summary[aria-label="Toggle hidden content"]')) {
    if (summary.textContent.trim()) summary.removeAttribute("aria-label");
  }
  for (const img of document.querySelectorAll("img.figure-scroll")) {
    const box = img.parentElement;  // scrolls sideways where narrow (a11y.css)
    box.tabIndex = 0;
    if (box.tagName !== "FIGURE") {  // a figure keeps its role, named by its caption
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", "Figure (scrolls sideways on narrow screens)");
    }
  }
});

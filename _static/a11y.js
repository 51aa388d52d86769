// Accessibility helpers for the book (issue 20): an image grid that scrolls sideways on a
// phone sits in a region a keyboard can reach and scroll (WCAG 2.1.1).
document.addEventListener("DOMContentLoaded", () => {
  for (const img of document.querySelectorAll("img.figure-scroll")) {
    const box = img.parentElement;  // scrolls sideways where narrow (a11y.css)
    box.tabIndex = 0;
    if (box.tagName !== "FIGURE") {  // a figure keeps its role, named by its caption
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", "Figure (scrolls sideways on narrow screens)");
    }
  }
});

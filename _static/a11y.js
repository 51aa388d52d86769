// Accessibility helpers for the book (issue 20): an image grid that scrolls sideways on a
// phone sits in a region a keyboard can reach and scroll (WCAG 2.1.1).
document.addEventListener("DOMContentLoaded", () => {
  for (const img of document.querySelectorAll("img.figure-scroll")) {
    const box = img.parentElement;
    box.classList.add("figure-scroll-box");
    box.tabIndex = 0;
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", "Figure (scrolls sideways on narrow screens)");
  }
});

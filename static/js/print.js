// The Print button of a printable page (an inline onclick would be refused by the page's Content-Security-Policy).
document.querySelectorAll('[data-print]').forEach((button) => {
  button.addEventListener('click', () => window.print());
});

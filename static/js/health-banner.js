// The web process tells each open page what is down (database, Redis, workers) and when it is back: show it.
export function watchHealth(socket) {
  const banner = document.querySelector('[data-health-banner]');
  if (!banner) return;
  socket.on('health', (state) => {
    const down = new Set(state.down || []);
    banner.querySelectorAll('[data-health-part]').forEach((part) => {
      part.hidden = !down.has(part.dataset.healthPart);
    });
    banner.hidden = down.size === 0;
  });
}

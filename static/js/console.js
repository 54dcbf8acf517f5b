// The console's live channel: connection state now, the call queue as call intake lands.
const script = document.querySelector('script[src*="js/console.js"]');
const state = document.querySelector('[data-live-state]');

function showState(connected) {
  if (!state) return;
  state.textContent = connected ? script.dataset.connected : script.dataset.disconnected;
  state.classList.toggle('connected', connected);
}

// The session cookie authenticates the socket; the server refuses roles without the console.
const socket = window.io('/console', { transports: ['websocket', 'polling'] });
socket.on('connect', () => showState(true));
socket.on('disconnect', () => showState(false));
socket.on('connect_error', () => showState(false));

// The agent's browser softphone (Twilio Voice JavaScript SDK, served from static/vendor/twilio).
// After the agent clicks Answer, Twilio rings this browser; the incoming call is accepted at once.
// Without a token (the office has not set browser calls up) the console works as before and calls
// ring the phone or SIP address on the agent's account.
const status = document.querySelector('[data-softphone]');
const csrf = document.querySelector('meta[name="csrf-token"]').content;

async function fetchToken() {
  const response = await fetch('/console/voice-token', { credentials: 'same-origin', headers: { 'X-CSRFToken': csrf } });
  if (!response.ok) return null;
  return (await response.json()).token;
}

function show(state) {
  if (!status) return;
  status.dataset.state = state;
  status.textContent = status.dataset[state] || state;
}

async function start() {
  if (!window.Twilio || !window.Twilio.Device) { show('off'); return; }
  const token = await fetchToken();
  if (!token) { show('off'); return; }
  const device = new window.Twilio.Device(token, { closeProtection: true, codecPreferences: ['opus', 'pcmu'] });
  device.on('registered', () => show('ready'));
  device.on('unregistered', () => show('off'));
  device.on('error', () => show('error'));
  device.on('tokenWillExpire', async () => {
    const fresh = await fetchToken();
    if (fresh) device.updateToken(fresh);
  });
  device.on('incoming', (call) => {
    // Only calls the desk puts through to this agent reach this identity: pick up straight away.
    call.accept();
    show('talking');
    call.on('disconnect', () => show('ready'));
    call.on('cancel', () => show('ready'));
  });
  await device.register();
}

start().catch(() => show('error'));

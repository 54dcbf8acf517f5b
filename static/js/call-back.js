// Click-to-call from a subscriber's record: the desk rings the agent, then the customer.
const csrf = document.querySelector('meta[name="csrf-token"]').content;

document.querySelectorAll('[data-call-number]').forEach((button) => {
  button.addEventListener('click', async () => {
    button.disabled = true;
    const response = await fetch('/console/call-back', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf },
      body: JSON.stringify({ number: button.dataset.callNumber }),
    });
    const state = button.parentElement.querySelector('[data-call-state]');
    state.textContent = response.ok ? button.dataset.placed : button.dataset.failed;
    state.classList.toggle('field-error', !response.ok);
    button.disabled = false;
  });
});

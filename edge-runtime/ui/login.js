// Login page: one access token, then back to where the technician was going.
'use strict';

function nextPath() {
  return safeNext(new URLSearchParams(location.search).get('next'));
}

document.addEventListener('DOMContentLoaded', () => {
  const form = $('login-form');
  const input = $('token');
  const button = $('enter');
  input.focus();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value;
    if (!token) { showError('Type the access token first.'); input.focus(); return; }
    button.disabled = true;
    try {
      await post('/api/login', { token }, { no401Redirect: true });
      clearError();
      location.replace(nextPath());
    } catch (e) {
      showError(e.message);
      input.select();
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
});

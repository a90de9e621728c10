// Login page: the browser's language (or the one picked here) until the user's own
// language takes over in the app.

import { post } from './api.js';
import { h } from './dom.js';
import { t, setLanguage, language, LANGUAGES, applyI18n, pickBrowserLanguage } from './i18n.js';
import { errorText } from './dialogs.js';

const STORE = 'qv.login-language';

function storedLanguage() {
  try {
    return localStorage.getItem(STORE);
  } catch {
    return null;
  }
}

const form = document.getElementById('login-form');
const user = document.getElementById('username');
const pass = document.getElementById('password');
const error = document.getElementById('login-error');
const submit = form.querySelector('[data-testid="login-submit"]');
const langSel = document.getElementById('login-language');

function render() {
  document.documentElement.lang = language();
  document.title = `${t('login.title')} — Qorovul`;
  applyI18n(document.body);
  langSel.replaceChildren(...LANGUAGES.map((l) => h('option', { value: l }, t(`language.${l}`))));
  langSel.value = language();
  if (error.dataset.key) error.textContent = t(error.dataset.key);
}

function showError(text, key) {
  error.textContent = text;
  if (key) error.dataset.key = key;
  else delete error.dataset.key;
  error.hidden = false;
}

setLanguage(LANGUAGES.includes(storedLanguage()) ? storedLanguage() : pickBrowserLanguage());
render();
user.focus();

langSel.addEventListener('change', () => {
  setLanguage(langSel.value);
  try {
    localStorage.setItem(STORE, langSel.value);
  } catch { /* private mode */ }
  render();
});

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  error.hidden = true;
  const username = user.value.trim();
  if (!username || !pass.value) {
    showError(t('login.missing'), 'login.missing');
    (username ? pass : user).focus();
    return;
  }
  submit.disabled = true;
  try {
    await post('/api/v1/login', { username, password: pass.value }, { noRedirect: true });
    location.assign('/');
  } catch (err) {
    if (err.status === 401) showError(t('login.bad_credentials'), 'login.bad_credentials');
    else showError(errorText(err));
    pass.value = '';
    pass.focus();
    submit.disabled = false;
  }
});


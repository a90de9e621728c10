// Modal forms in <dialog> (no window.prompt): Escape closes them, the first field gets the
// focus, and a server error is shown inside the dialog so the operator can fix and retry.

import { h } from './dom.js';
import { t } from './i18n.js';

/**
 * Opens a form dialog and resolves with `onSubmit`'s result, or null when cancelled.
 * fields: [{name, label, type: 'textarea'|'select'|'text', options: [{value, label}],
 *           required, minLength (of the trimmed text), maxLength, testid, value}]
 * intro: a line of explanation under the title (optional).
 */
export function formDialog({ title, intro, fields, submitLabel, submitTestId, onSubmit, testid }) {
  return new Promise((resolve) => {
    const inputs = {};
    const error = h('p', { class: 'form-error', role: 'alert', testid: 'dialog-error' });
    const submit = h('button', { type: 'submit', class: 'btn primary', testid: submitTestId || 'dialog-submit' }, submitLabel);
    const cancel = h('button', { type: 'button', class: 'btn', testid: 'dialog-cancel' }, t('action.cancel'));
    const rows = fields.map((f) => {
      let input;
      if (f.type === 'select') {
        input = h('select', { name: f.name, testid: f.testid, required: f.required },
          (f.options || []).map((o) => h('option', { value: o.value }, o.label)));
        if (f.value !== undefined) input.value = f.value;
      } else if (f.type === 'textarea') {
        input = h('textarea', { name: f.name, testid: f.testid, rows: 4, required: f.required, maxlength: f.maxLength });
        if (f.value) input.value = f.value;
      } else {
        input = h('input', { type: 'text', name: f.name, testid: f.testid, required: f.required, maxlength: f.maxLength });
        if (f.value) input.value = f.value;
      }
      inputs[f.name] = input;
      return h('label', { class: 'field' }, h('span', {}, f.label), input);
    });
    const form = h('form', { class: 'dialog-form', method: 'dialog' },
      h('h2', {}, title), intro ? h('p', { class: 'dialog-intro' }, intro) : null, rows, error, h('div', { class: 'dialog-buttons' }, cancel, submit));
    const dlg = h('dialog', { class: 'dialog', testid: testid || 'dialog' }, form);
    let result = null;

    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve(result);
    });
    // Ctrl+Enter sends from a textarea, as in chat tools operators know.
    form.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const values = {};
      for (const [name, input] of Object.entries(inputs)) values[name] = input.value;
      for (const f of fields) {
        if (f.required && !String(values[f.name] || '').trim()) {
          error.textContent = t('error.required', { field: f.label });
          inputs[f.name].focus();
          return;
        }
        if (f.minLength && String(values[f.name] || '').trim().length < f.minLength) {
          error.textContent = t('error.too_short', { field: f.label, n: f.minLength });
          inputs[f.name].focus();
          return;
        }
      }
      submit.disabled = true;
      error.textContent = '';
      try {
        result = (await onSubmit(values)) ?? true;
        dlg.close();
      } catch (err) {
        error.textContent = errorText(err);
        submit.disabled = false;
      }
    });

    document.body.appendChild(dlg);
    dlg.showModal();
    const first = fields.length ? inputs[fields[0].name] : submit;
    first.focus();
  });
}

/** Asks for a reason (escalation, original view, personal data). */
export function reasonDialog({ title, submitLabel, onSubmit }) {
  return formDialog({
    title,
    submitLabel,
    submitTestId: 'reason-submit',
    testid: 'reason-dialog',
    fields: [{ name: 'reason', label: t('field.reason'), type: 'textarea', required: true, maxLength: 1000, testid: 'reason-text' }],
    onSubmit: (v) => onSubmit(v.reason.trim()),
  });
}

/** A user-facing message for an API error. */
export function errorText(err) {
  if (!err) return t('error.generic');
  if (err.status === 0) return t('error.network');
  if (err.status === 403) return t('error.forbidden');
  if (err.status === 404) return t('error.not_found');
  if (err.status === 409) return t('error.conflict', { detail: err.message });
  return t('error.server', { detail: err.message || String(err) });
}

/**
 * The form fields of the submit dialog: a labelled input with its hint and its error line
 * (`.mltf-field[data-field]`, `.mltf-hint`, `.mltf-field-error`), and reading/marking them.
 */
import { IPlacedErrors } from '../validate';
import { el } from './dom';

let nextId = 0;

/** A text (or number) input; `name` is the form field name (`gpus`, `param:lr`...). */
export function makeInput(
  name: string,
  value: string,
  placeholder: string,
  type = 'text'
): HTMLInputElement {
  const input = el('input', {
    class: 'jp-mod-styled',
    type,
    name,
    placeholder,
    autocomplete: 'off',
    spellcheck: 'false'
  }) as HTMLInputElement;
  if (type === 'number') {
    // 'any': a step mismatch (1.5) would make the input :invalid, which silently disables the Dialog's
    // Submit button; the dialog explains the problem next to the field instead
    input.setAttribute('step', 'any');
  }
  input.value = value;
  return input;
}

/** A select with `[value, label]` options. */
export function makeSelect(name: string, options: [string, string][] = []): HTMLSelectElement {
  const select = el('select', { name, class: 'mltf-select' }) as HTMLSelectElement;
  for (const [value, label] of options) {
    select.append(el('option', { value }, label));
  }
  return select;
}

/** The box of one field: label, input, hint, error line. Typing in it clears its error. */
export function makeField(
  field: string,
  label: string,
  input: HTMLElement,
  hint: string
): HTMLElement {
  const id = `mltf-${nextId++}`;
  input.id = id;
  const error = el('div', { class: 'mltf-field-error', 'aria-live': 'polite' });
  const box = el(
    'div',
    { class: 'mltf-field', 'data-field': field },
    el('label', { for: id }, label),
    input,
    el('div', { class: 'mltf-hint' }, hint),
    error
  );
  input.addEventListener('input', () => {
    box.classList.remove('mltf-mod-invalid');
    error.textContent = '';
  });
  return box;
}

export function fieldBox(root: HTMLElement, field: string): HTMLElement | null {
  return root.querySelector<HTMLElement>(`.mltf-field[data-field="${CSS.escape(field)}"]`);
}

export function setHint(root: HTMLElement, field: string, text: string): void {
  const node = fieldBox(root, field)?.querySelector('.mltf-hint');
  if (node) {
    node.textContent = text;
  }
}

/** The trimmed value of the input named `name` ('' when there is none). */
export function readValue(root: HTMLElement, name: string): string {
  const node = root.querySelector<HTMLInputElement | HTMLSelectElement>(
    `[name="${CSS.escape(name)}"]`
  );
  return node ? node.value.trim() : '';
}

export function clearErrors(root: HTMLElement, general: HTMLElement): void {
  for (const node of Array.from(root.querySelectorAll('.mltf-field-error'))) {
    node.textContent = '';
  }
  for (const node of Array.from(root.querySelectorAll('.mltf-field.mltf-mod-invalid'))) {
    node.classList.remove('mltf-mod-invalid');
  }
  general.textContent = '';
}

/**
 * Show each message next to its field and the rest on the general line. `focus`: move the focus to the
 * first marked field (after a click on Submit; never while the user types).
 */
export function showErrors(
  root: HTMLElement,
  general: HTMLElement,
  placed: IPlacedErrors,
  focus: boolean
): void {
  clearErrors(root, general);
  let first: HTMLElement | null = null;
  for (const [field, message] of Object.entries(placed.fields)) {
    const box = fieldBox(root, field);
    if (box) {
      box.classList.add('mltf-mod-invalid');
      box.querySelector('.mltf-field-error')!.textContent = message;
      first = first || box;
    }
  }
  general.textContent = placed.general.join('\n');
  if (!focus) {
    return;
  }
  const input = first?.querySelector<HTMLElement>('input, select');
  if (input) {
    input.focus();
    first!.scrollIntoView({ block: 'nearest' });
  } else if (placed.general.length) {
    general.scrollIntoView({ block: 'nearest' });
  }
}

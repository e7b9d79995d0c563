/**
 * The dialog's parameter fields: one typed input per parameter of the chosen entry point.
 */
import { defaultString } from '../format';
import { IEntryPoint, IParameter } from '../model';
import { paramField } from '../validate';
import { el } from './dom';
import { makeField, makeInput, makeSelect } from './fields';

/** The values typed into the parameter inputs now (name -> text). */
export function typedParams(section: HTMLElement): { [name: string]: string } {
  const typed: { [name: string]: string } = {};
  for (const input of Array.from(section.querySelectorAll<HTMLInputElement>('[data-param]'))) {
    typed[input.dataset.param!] = input.value;
  }
  return typed;
}

function paramInput(p: IParameter, value: string): HTMLInputElement | HTMLSelectElement {
  let input: HTMLInputElement | HTMLSelectElement;
  if (p.type === 'bool') {
    input = makeSelect(paramField(p.name), [
      ['true', 'true'],
      ['false', 'false']
    ]);
    input.value = ['1', 'true', 'yes', 'on'].includes(value.toLowerCase()) ? 'true' : 'false';
  } else {
    input = makeInput(paramField(p.name), value, p.required ? 'required' : '');
    if (p.type === 'float' || p.type === 'int' || p.type === 'integer') {
      input.setAttribute('inputmode', p.type === 'float' ? 'decimal' : 'numeric');
    }
  }
  input.dataset.param = p.name;
  input.dataset.type = p.type;
  return input;
}

/**
 * Fill `section` with the fields of `ep`. A value typed before (`typed`, kept across a change of entry
 * point) wins over a remembered one, which wins over the MLproject default.
 */
export function renderParams(
  section: HTMLElement,
  ep: IEntryPoint | undefined,
  typed: { [name: string]: string },
  remembered: { [name: string]: string }
): void {
  section.textContent = '';
  section.append(el('h3', {}, 'Parameters'));
  if (!ep || ep.parameters.length === 0) {
    section.append(el('div', { class: 'mltf-empty' }, 'This entry point takes no parameters.'));
    return;
  }
  const grid = el('div', { class: 'mltf-grid' });
  for (const p of ep.parameters) {
    const value = typed[p.name] ?? remembered[p.name] ?? defaultString(p.default);
    const hasDefault = p.default !== null && p.default !== undefined;
    const hint = `${p.type} · ${hasDefault ? `default ${defaultString(p.default)}` : 'required'}`;
    grid.append(makeField(paramField(p.name), p.name, paramInput(p, value), hint));
  }
  section.append(grid);
}

/**
 * The dialog's files section: count and size, the size warning (or the over-limit refusal), the list of
 * files that will be sent and of those excluded.
 */
import { formatBytes } from '../format';
import { IPreviewFiles } from '../model';
import { el } from './dom';

const MAX_FILES_LISTED = 200;

function sizeWarning(f: IPreviewFiles): HTMLElement | null {
  const size = formatBytes(f.total_bytes);
  if (f.over_limit) {
    return el(
      'div',
      { class: 'mltf-size-warning mltf-mod-error' },
      `The project is ${size}, over the limit of ${formatBytes(f.limit_bytes)}: ` +
        'exclude large files with a .mltfignore file (or .gitignore) before submitting.'
    );
  }
  if (f.warn) {
    return el(
      'div',
      { class: 'mltf-size-warning' },
      `The project is ${size}, more than ${formatBytes(f.warn_bytes)}: ` +
        'every submission copies it. Exclude data and checkpoints with .mltfignore if you can.'
    );
  }
  return null;
}

function fileList(f: IPreviewFiles): HTMLElement {
  const files = f.files || [];
  const ul = el('ul', {});
  for (const file of files.slice(0, MAX_FILES_LISTED)) {
    ul.append(
      el(
        'li',
        { class: 'mltf-file' },
        el('span', {}, file.path),
        el('span', { class: 'mltf-size' }, formatBytes(file.size))
      )
    );
  }
  if (files.length > MAX_FILES_LISTED) {
    ul.append(el('li', { class: 'mltf-more' }, `… and ${files.length - MAX_FILES_LISTED} more`));
  }
  return el(
    'details',
    { class: 'mltf-file-list' },
    el('summary', {}, 'Files that will be sent'),
    ul
  );
}

function excludedList(f: IPreviewFiles): HTMLElement {
  const ul = el('ul', {});
  for (const e of f.excluded.slice(0, MAX_FILES_LISTED)) {
    ul.append(
      el(
        'li',
        { class: 'mltf-excluded' },
        el('span', {}, e.path),
        el('span', { class: 'mltf-reason' }, e.reason)
      )
    );
  }
  return el(
    'details',
    { class: 'mltf-excluded-list' },
    el('summary', {}, `Excluded (${f.excluded.length})`),
    ul
  );
}

export function renderFiles(f: IPreviewFiles): HTMLElement {
  const excluded = f.excluded?.length ? ` · ${f.excluded.length} excluded` : '';
  const section = el(
    'section',
    { class: 'mltf-section mltf-files' },
    el('h3', {}, 'Files'),
    el(
      'div',
      { class: 'mltf-files-summary' },
      `${f.count} file${f.count === 1 ? '' : 's'}, ${formatBytes(f.total_bytes)}${excluded}`
    ),
    sizeWarning(f),
    fileList(f)
  );
  if (f.excluded?.length) {
    section.append(excludedList(f));
  }
  return section;
}

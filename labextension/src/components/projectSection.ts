/**
 * The dialog's project section: name, path, "MLproject generated" badge, entry point, run name,
 * experiment and the entry point's command.
 */
import { IChoices } from '../choices';
import { IPreview, IProjectInfo } from '../model';
import { ENV_MANAGERS, initialEnvManager } from '../validate';
import { el } from './dom';
import { makeField, makeInput, makeSelect } from './fields';

export interface IProjectSection {
  node: HTMLElement;
  entrySelect: HTMLSelectElement;
  /** the command template of the chosen entry point */
  command: HTMLElement;
  /** the command the server resolved for the current values (from POST check) */
  resolved: HTMLElement;
  /** which env the submit will use and why (from POST check) */
  env: HTMLElement;
}

/** The entry point to start with: the remembered one, else `main`, else the first. */
export function initialEntryPoint(names: string[], wanted: string | undefined): string {
  if (wanted && names.includes(wanted)) {
    return wanted;
  }
  return names.includes('main') ? 'main' : names[0] || '';
}

export function renderProject(
  preview: IPreview,
  proj: IProjectInfo,
  dir: string,
  initial: IChoices,
  defaultEnv?: string | null
): IProjectSection {
  const node = el('section', { class: 'mltf-section mltf-project' });
  const nameLine = el(
    'div',
    { class: 'mltf-project-line' },
    el('span', { class: 'mltf-label' }, 'Project'),
    el('span', { class: 'mltf-project-name' }, proj.name),
    el('span', { class: 'mltf-project-path' }, `/${preview.path || dir}`.replace(/\/+$/, '') || '/')
  );
  if (proj.generated) {
    nameLine.append(
      el('span', { class: 'mltf-badge mltf-badge-generated' }, 'MLproject generated')
    );
  }
  const names = proj.entry_points.map(e => e.name);
  const entrySelect = makeSelect(
    'entry_point',
    names.map(n => [n, n])
  );
  entrySelect.value = initialEntryPoint(names, initial.entry_point);
  const command = el('code', { class: 'mltf-command' });
  const resolved = el('code', {
    class: 'mltf-command-resolved',
    title: 'the command the job runs'
  });
  const envSelect = makeSelect('env_manager', ENV_MANAGERS);
  envSelect.value = initialEnvManager(initial.env_manager, defaultEnv);
  const env = el('div', { class: 'mltf-env-line', 'aria-live': 'polite' });
  node.append(
    nameLine,
    makeField('entry_point', 'Entry point', entrySelect, ''),
    makeField(
      'name',
      'Run name',
      makeInput('name', initial.name || '', proj.name),
      'Name of the Slurm job and the MLflow run.'
    ),
    makeField(
      'experiment',
      'MLflow experiment',
      makeInput('experiment', initial.experiment || '', 'Default'),
      ''
    ),
    makeField('env_manager', 'Environment', envSelect, 'The Python environment the job runs in.'),
    env,
    command,
    resolved
  );
  return { node, entrySelect, command, resolved, env };
}

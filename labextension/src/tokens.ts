/**
 * Ids the extension is known by: the plugin, its commands, its DOM ids and storage keys, its REST root.
 * Tests (tests/browser) and settings (schema/plugin.json) rely on these names: change them together.
 */

export const PLUGIN_ID = 'jupyter-mltf:plugin';

export namespace CommandIDs {
  export const submit = 'mltf:submit';
  export const submitDirectory = 'mltf:submit-directory';
  export const showJobs = 'mltf:show-jobs';
  export const openLog = 'mltf:open-log';
}

/** The REST root under the server's base URL (jupyter_mltf/extension.py API). */
export const API_ROOT = ['mltf', 'api'];

/** The id of the "MLTF Jobs" side panel (also its layout-restorer name). */
export const JOBS_PANEL_ID = 'mltf-jobs-panel';

/** The WidgetTracker namespace of the log views. */
export const LOG_TRACKER_NAMESPACE = 'mltf-logs';

/** localStorage: last dialog choices per project directory (the key adds the base URL and the dir). */
export const CHOICES_KEY_PREFIX = 'jupyter-mltf:choices:';

/** localStorage: job id -> project path as submitted from this browser ("Re-submit with changes"). */
export const JOB_PATHS_KEY = 'jupyter-mltf:job-paths';

/** Milliseconds after the last edit before the dialog asks the server to check the request. */
export const CHECK_DELAY_MS = 300;

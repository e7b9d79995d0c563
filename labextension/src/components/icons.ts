/**
 * The extension's icon (toolbar button, side panel tab, commands).
 */
import { LabIcon } from '@jupyterlab/ui-components';

const MLTF_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161">
<path d="M4 6h16a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1zm1 2v7h14V8H5z"/>
<path d="M7 9.5h2v4H7zm4-1h2v5h-2zm4 2h2v3h-2zM6 18h2v2H6zm5 0h2v2h-2zm5 0h2v2h-2z"/>
</g></svg>`;

export const mltfIcon = new LabIcon({ name: 'jupyter-mltf:cluster', svgstr: MLTF_SVG });

/**
 * A tiny DOM builder: el('div', {class: 'x'}, 'text', child).
 */
export function el(
  tag: string,
  attrs: { [name: string]: string | undefined } = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined) {
      node.setAttribute(name, value);
    }
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child);
    }
  }
  return node;
}

// Tiny DOM helper. Text is only ever set with textContent: data (probe tokens, run names)
// is never parsed as HTML.

/**
 * el('div', {class: 'x', title: 't', onclick: fn, style: {...}}, child, 'text', ...)
 * Attributes named on* become event listeners (addEventListener, so the page's CSP, which
 * forbids inline handlers, is respected). Strings become text nodes.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'style' && typeof v === 'object') Object.assign(node.style, v);
    else if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'text') node.textContent = String(v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else if (c instanceof Node) node.appendChild(c);
    else node.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** A <select> filled with [value, label] options. */
export function select(options, value, onChange, attrs = {}) {
  const s = el('select', attrs);
  setOptions(s, options, value);
  s.addEventListener('change', () => onChange(s.value));
  return s;
}

export function setOptions(s, options, value) {
  const sig = JSON.stringify(options);
  if (s.dataset.sig !== sig) {
    clear(s);
    for (const [v, label] of options) s.appendChild(el('option', { value: v }, label));
    s.dataset.sig = sig;
  }
  if (value !== undefined && value !== null) s.value = String(value);
}

/** Display text of a token: whitespace made visible so tokens stay distinguishable. */
export function tokenLabel(tok) {
  const s = String(tok ?? '');
  if (s === '') return '\u2205';
  return s.replace(/\n/g, '\u21b5').replace(/\t/g, '\u21e5').replace(/^ /, '\u00b7');
}

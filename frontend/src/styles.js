// Injects the bundled CSS (ours + uPlot's) as <style> elements: TensorBoard's CSP allows
// inline styles but no external stylesheet outside the plugin.
import uplotCss from 'uplot/dist/uPlot.min.css';
import appCss from './styles.css';

export function injectStyles(doc = document) {
  if (doc.getElementById('tba-styles')) return;
  const s1 = doc.createElement('style');
  s1.textContent = uplotCss;
  const s2 = doc.createElement('style');
  s2.id = 'tba-styles';
  s2.textContent = appCss;
  doc.head.appendChild(s1);
  doc.head.appendChild(s2);
}

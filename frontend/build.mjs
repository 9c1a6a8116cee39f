// Bundles frontend/src into ONE self-contained ES module: tb_attention_plugin/static/index.js.
// CSS (ours and uPlot's) is bundled as text and injected from JS, so the tab works under
// TensorBoard's Content-Security-Policy and offline. A second bundle, static/export.js (a classic
// script, src/exportEntry.js), is what `tb-attention export` inlines into its HTML reports.
import * as esbuild from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const staticDir = path.resolve(here, '..', 'tb_attention_plugin', 'static');
const watch = process.argv.includes('--watch');

const options = {
  absWorkingDir: here,
  entryPoints: ['src/index.js'],
  bundle: true,
  format: 'esm',
  target: ['es2020', 'chrome90', 'firefox90', 'safari14'],
  outfile: path.join(staticDir, 'index.js'),
  minify: !process.argv.includes('--no-minify'),
  sourcemap: false,
  loader: { '.css': 'text' },
  legalComments: 'eof',
  charset: 'utf8',
  logLevel: 'info',
};

// the report's bundle: inlined in a <script> of a page opened from disk (no module loading there)
const exportOptions = {
  ...options,
  entryPoints: ['src/exportEntry.js'],
  format: 'iife',
  outfile: path.join(staticDir, 'export.js'),
};

for (const o of [options, exportOptions]) {
  if (watch) await (await esbuild.context(o)).watch();
  else await esbuild.build(o);
}

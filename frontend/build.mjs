// Bundles frontend/src into ONE self-contained ES module: tb_attention_plugin/static/index.js.
// CSS (ours and uPlot's) is bundled as text and injected from JS, so the tab works under
// TensorBoard's Content-Security-Policy and offline.
import * as esbuild from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const outfile = path.resolve(here, '..', 'tb_attention_plugin', 'static', 'index.js');
const watch = process.argv.includes('--watch');

const options = {
  absWorkingDir: here,
  entryPoints: ['src/index.js'],
  bundle: true,
  format: 'esm',
  target: ['es2020', 'chrome90', 'firefox90', 'safari14'],
  outfile,
  minify: !process.argv.includes('--no-minify'),
  sourcemap: false,
  loader: { '.css': 'text' },
  legalComments: 'eof',
  charset: 'utf8',
  logLevel: 'info',
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}

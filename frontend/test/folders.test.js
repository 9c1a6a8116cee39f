// The folders of src/ (docs/architecture.md, "Frontend"): a module imports only from its own folder
// and the folders before its own in RANK (so a card's folder imports no other card's), and no module
// is in an import cycle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');
const RANK = ['paint', 'data', 'answers', 'state', 'views/charts', 'views/common', 'views', '.'];

const modules = fs
  .readdirSync(SRC, { recursive: true })
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.split(path.sep).join('/'));

/** The src/ modules that `file` imports (relative specifiers only). */
function importsOf(file) {
  const text = fs.readFileSync(path.join(SRC, file), 'utf8');
  const specs = [...text.matchAll(/from\s+'(\.{1,2}\/[^']+\.js)'/g)].map((m) => m[1]);
  return specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)));
}

/** The folder's place in RANK: the first entry that is the module's folder or one above it. */
function rank(file) {
  const dir = path.posix.dirname(file);
  return RANK.findIndex((f) => f === '.' || dir === f || dir.startsWith(f + '/'));
}

test('every module imports only from its own folder and the folders ranked before it', () => {
  for (const file of modules) {
    assert.notEqual(rank(file), -1, file);
    for (const dep of importsOf(file)) {
      assert.ok(modules.includes(dep), `${file} imports a missing ${dep}`);
      const same = path.posix.dirname(dep) === path.posix.dirname(file);
      assert.ok(same || rank(dep) < rank(file), `${file} imports ${dep} from a folder not before its own`);
    }
  }
});

test('no import cycle between modules', () => {
  const state = new Map(); // file -> 'open' | 'done'
  const visit = (file, trail) => {
    if (state.get(file) === 'done') return;
    assert.notEqual(state.get(file), 'open', `cycle: ${[...trail, file].join(' -> ')}`);
    state.set(file, 'open');
    for (const dep of importsOf(file)) visit(dep, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of modules) visit(file, []);
});

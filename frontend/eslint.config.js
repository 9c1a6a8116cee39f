// Lint rules of the tab's source, tests and build script (npm run lint; run by scripts/test.sh).
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['node_modules/'] },
  js.configs.recommended,
  {
    files: ['src/**/*.js'],
    languageOptions: { globals: globals.browser },
    // The project's size rule: no product file over ~300 lines, no function over ~50 (a longer
    // one needs a reason at its top and an eslint-disable-next-line naming the rule).
    rules: {
      'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 50, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    files: ['test/**/*.js', 'build.mjs', 'eslint.config.js'],
    languageOptions: { globals: globals.node },
  },
];

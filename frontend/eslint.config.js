// Lint rules of the tab's source, tests and build script (npm run lint; run by scripts/test.sh).
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['node_modules/'] },
  js.configs.recommended,
  {
    files: ['src/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['test/**/*.js', 'build.mjs', 'eslint.config.js'],
    languageOptions: { globals: globals.node },
  },
];

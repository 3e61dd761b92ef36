// Lint rules, including the layering of the code as an import rule:
//   model ← formats ← stages ← cli
// model and formats never import a stage; a stage imports another stage only through its public
// module (index.js or protocol.js); util is shared by all.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const STAGES = ['instrument', 'recorder', 'trace', 'sample', 'agent', 'collect', 'store', 'ui', 'bench', 'compare'];
const stageInternals = (from) =>
  STAGES.filter((s) => s !== from).flatMap((s) => [`../${s}/*`, `!../${s}/index.js`, `!../${s}/protocol.js`]);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'stackscope-out/**', 'fixtures/**/*.js', 'fixtures/**/*.mjs', 'fixtures/**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
      // Names and text from profiled programs are scrubbed of control characters on purpose.
      'no-control-regex': 'off',
    },
  },
  {
    // The page's scripts run in the browser.
    files: ['src/ui/page/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['test/**/*.ts', 'benchmarks/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['src/model/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*/*', '!../util/*'], message: 'the model imports nothing of stackscope but util' }] }] },
  },
  {
    files: ['src/formats/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*/*', '!../model/*', '!../util/*'], message: 'formats build on the model only' }] }] },
  },
  ...STAGES.map((stage) => ({
    files: [`src/${stage}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: stageInternals(stage), message: `a stage imports another only through its index.js or protocol.js` }, { group: ['../cli/*'], message: 'stages never import the CLI' }] }] },
  })),
);

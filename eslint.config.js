// SPDX-License-Identifier: LGPL-2.1-or-later
// The lint gate of `npm test`: typescript-eslint's type-checked rules, plus the module
// boundaries of docs/architecture.md (which module may import which dependency).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Only the edge modules talk to the outside: got, dbus-next and commander each have one home. */
const EDGE_IMPORTS = [
  { name: 'got', message: 'Only src/http.ts talks HTTP (docs/architecture.md).' },
  { name: 'dbus-next', message: 'Only src/nm/dbus-client.ts talks D-Bus (docs/architecture.md).' },
  { name: 'commander', message: 'Only src/cli.ts owns argv (docs/architecture.md).' },
  // Sockets of our own: the connections opened ahead of HTTP requests (dbus-next and got open theirs).
  ...['node:net', 'node:http'].map((name) => ({
    name,
    message: 'Only src/http.ts and src/socket-pool.ts open sockets (docs/architecture.md).',
  })),
  // The file system: /proc/uptime (cli.ts), state.json (state-file.ts), the OpenStack config drive.
  ...['node:fs', 'node:fs/promises'].map((name) => ({
    name,
    message: 'Only src/cli.ts, src/state-file.ts and src/config-drive.ts touch files (docs/architecture.md).',
  })),
];
const FS = ['node:fs', 'node:fs/promises'];
const restrictEdges = (...allowed) => ({
  'no-restricted-imports': ['error', { paths: EDGE_IMPORTS.filter((entry) => !allowed.includes(entry.name)) }],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'scripts/build-stubs/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
      },
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers and booleans in log lines are the point of most templates here.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // D-Bus and JSON values arrive untyped; String() on them is the intended conversion.
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, varsIgnorePattern: '^_', argsIgnorePattern: '^_' }],
    },
  },
  // Plain JavaScript (build and harness scripts) has no types to check.
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], ...tseslint.configs.disableTypeChecked },
  // The installed loader and its cache writer are CommonJS scripts run by node itself.
  {
    files: ['loader/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests state what they expect: a non-null assertion there is an assertion, and mocks are loose.
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-dynamic-delete': 'off',
      // dbus-next's ClientInterface members are untyped (`Function`) by design.
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // Test doubles implement async interfaces without awaiting; JSON helpers are typed at the call.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      ...restrictEdges(),
      // Only config.ts reads the environment; cli.ts and main.ts hand process.env to it.
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read the environment in src/config.ts.' }],
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }],
    },
  },
  { files: ['src/http.ts'], rules: restrictEdges('got', 'node:http') },
  { files: ['src/socket-pool.ts'], rules: restrictEdges('node:net') },
  { files: ['src/nm/dbus-client.ts'], rules: restrictEdges('dbus-next') },
  { files: ['src/cli.ts'], rules: { ...restrictEdges('commander', ...FS), 'no-restricted-properties': 'off' } },
  { files: ['src/state-file.ts', 'src/config-drive.ts'], rules: restrictEdges(...FS) },
  { files: ['src/config.ts', 'src/main.ts'], rules: { 'no-restricted-properties': 'off' } },
  {
    // The pure core (providers, planner) never talks to NetworkManager, argv or the run.
    files: ['src/providers/**/*.ts', 'src/plan/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: EDGE_IMPORTS,
          patterns: [{ group: ['**/nm/nm-client.js', '**/nm/dbus-client.js', '**/cli.js', '**/run.js'], message: 'The core stays pure.' }],
        },
      ],
    },
  },
);

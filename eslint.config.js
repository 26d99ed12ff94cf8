import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const DOMAINS = ['images', 'config', 'deploy', 'flags', 'metrics', 'migrate', 'notify', 'report', 'smoke'];
const ACTIONS = ['build-and-tag', 'deploy-rolling', 'flags', 'migrate', 'notify', 'release', 'slo-gate', 'smoke-test'];
/** @actions/* only in src/runner and the GitHub channel of src/notify (and the cache client: no other exists). */
const ACTIONS_TOOLKIT = { group: ['@actions/*'], message: 'Only src/runner and src/notify/github.ts use @actions/* (DESIGN.md): talk to src/runner.' };
const up = (names) => `^(\\.\\./)+(${names.join('|')})/`;

function layering() {
  const block = (files, patterns, ignores) => ({ files, ...(ignores ? { ignores } : {}), rules: { 'no-restricted-imports': ['error', { patterns }] } });
  return [
    block(['src/**/*.ts'], [ACTIONS_TOOLKIT], ['src/runner/**', 'src/notify/github.ts', 'src/images/cache.ts']),
    block(['src/lib/**/*.ts'], [ACTIONS_TOOLKIT, { regex: '^\\.\\./', message: 'src/lib is the bottom layer: it imports nothing outside src/lib.' }]),
    // The input-spec language (src/manifest) and deploy policy sit just above lib: they import lib only.
    ...['manifest', 'policy'].map((d) =>
      block([`src/${d}/**/*.ts`], [ACTIONS_TOOLKIT, { regex: up(['actions', 'cli', 'runner', 'pipeline', 'manifest', 'policy', ...DOMAINS].filter((x) => x !== d)), message: `src/${d} imports only src/lib (and itself): not an action, the cli, the runner or a domain.` }]),
    ),
    // The runner is the GitHub contract only: slipway.yml reaches it through src/pipeline (the composition layer).
    block(['src/runner/**/*.ts'], [{ regex: up(['actions', 'cli', 'pipeline', 'policy', ...DOMAINS]), message: 'src/runner imports only src/lib and src/manifest: slipway.yml is composed into the inputs by src/pipeline.' }]),
    ...DOMAINS.flatMap((d) => {
      const own = { regex: up(['actions', 'cli', 'runner', 'pipeline', ...DOMAINS.filter((x) => x !== d)]), message: `A domain (src/${d}) imports only src/lib: not an action, the cli, the runner or another domain (pass what it needs in).` };
      if (d === 'notify') return [block([`src/${d}/**/*.ts`], [own])];
      // The GitHub Actions cache service has no client but @actions/cache.
      if (d === 'images') return [block([`src/${d}/**/*.ts`], [ACTIONS_TOOLKIT, own], ['src/images/cache.ts']), block(['src/images/cache.ts'], [own])];
      return [block([`src/${d}/**/*.ts`], [ACTIONS_TOOLKIT, own])];
    }),
    ...ACTIONS.filter((a) => a !== 'release').map((a) =>
      block([`src/actions/${a}/**/*.ts`], [ACTIONS_TOOLKIT, { regex: `^\\.\\./(${ACTIONS.filter((x) => x !== a).join('|')})/`, message: `No cross-action imports: ${a} uses domains; only the release action composes other actions.` }]),
    ),
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly', fetch: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', performance: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', structuredClone: 'readonly', setImmediate: 'readonly', Response: 'readonly', Request: 'readonly', Headers: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-control-regex': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  // The dependency rule (DESIGN.md): actions and cli → domains → lib. ESLint's own
  // no-restricted-imports (regex patterns) holds it; dynamic import() is not checked by it.
  ...layering(),
);

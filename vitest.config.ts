import { readFileSync } from 'node:fs';
import { configDefaults, defineConfig } from 'vitest/config';

// GitHub's workflow tooling (@actions/languageservice, workflow-parser, expressions) imports JSON
// without import attributes, so vite transforms it (inline). Its packages ship source maps without
// their sources: loading them without the map comment spares one warning per file.
const githubTooling = /node_modules\/@actions\/(languageservice|workflow-parser|expressions)\/.*\.js$/;

export default defineConfig({
  plugins: [{
    name: 'github-tooling-without-sourcemaps',
    enforce: 'pre',
    load(id) {
      return githubTooling.test(id) ? readFileSync(id.replace(/\?.*$/, ''), 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '') : undefined;
    },
  }],
  test: {
    include: ['test/**/*.test.ts'],
    // test/cluster needs a real Kubernetes cluster (the kind job in ci.yml sets SLIPWAY_KUBE_REAL=1).
    exclude: process.env.SLIPWAY_KUBE_REAL === '1' ? configDefaults.exclude : [...configDefaults.exclude, 'test/cluster/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
    server: { deps: { inline: [/@actions\/(languageservice|workflow-parser|expressions)/] } },
  },
});

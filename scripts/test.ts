/**
 * The test command (`npm test`, which .ci/run calls): vitest over test/, then the suite-wide secret
 * scan over every run the tests recorded, then one closing line: `Tests: N passed, N failed, N skipped`.
 * Extra arguments go to vitest (e.g. `npm test -- test/unit`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { leakForms } from '../test/helpers/runner.ts';

const root = new URL('..', import.meta.url).pathname;
const tmp = join(root, '.tmp');
rmSync(join(tmp, 'runs'), { recursive: true, force: true });
rmSync(join(tmp, 'secrets.txt'), { force: true });
mkdirSync(tmp, { recursive: true });
const report = join(tmp, 'vitest.json');
rmSync(report, { force: true });

const vitest = spawnSync(join(root, 'node_modules/.bin/vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], { stdio: 'inherit', cwd: root });

interface Report {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: { status: string; assertionResults: { status: string }[] }[];
}
const counts = existsSync(report) ? (JSON.parse(readFileSync(report, 'utf8')) as Report) : undefined;
let passed = counts?.numPassedTests ?? 0;
// A failed test counts once; a file that failed without any failed test (it did not load) counts as one.
const brokenFiles = counts?.testResults.filter((f) => f.status === 'failed' && !f.assertionResults.some((a) => a.status === 'failed')).length ?? 0;
let failed = counts ? counts.numFailedTests + brokenFiles : 1;
const skipped = counts ? counts.numPendingTests + counts.numTodoTests : 0;

// Secret scan: every secret a test registered, searched in every recorded run.
const secrets = existsSync(join(tmp, 'secrets.txt'))
  ? [...new Set(readFileSync(join(tmp, 'secrets.txt'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as string))]
  : [];
const runsDir = join(tmp, 'runs');
const runs = existsSync(runsDir) ? readdirSync(runsDir) : [];
const leaks: string[] = [];
for (const f of runs) {
  const text = readFileSync(join(runsDir, f), 'utf8');
  // Each secret in every form a leak may take (percent-, form- and JSON-encoded, base64).
  for (const s of secrets) {
    const form = leakForms(s).find((x) => text.includes(x));
    if (form !== undefined) leaks.push(`${f}: shows a secret of ${s.length} characters starting ${JSON.stringify(s.slice(0, 2))}${form === s ? '' : ' (encoded)'}`);
  }
}
console.log(`\nSecret scan: ${secrets.length} secret values searched in ${runs.length} recorded action runs: ${leaks.length} leaks`);
if (leaks.length) {
  console.log(leaks.slice(0, 20).map((l) => `  LEAK ${l}`).join('\n'));
  failed += 1;
} else passed += 1;

console.log(`Tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(vitest.status === 0 && failed === 0 ? 0 : 1);

/**
 * Start-up cost of the notify bundle: a webhook-only step (Octokit never loaded) against a step
 * that posts a GitHub deployment status (Octokit loaded lazily), against a bare `node -e 0`.
 * Everything runs on 127.0.0.1: a local receiver and the fake GitHub API.
 *   node_modules/.bin/node bench/notify-cold-start.ts [runs=7]
 */
import { createServer } from 'node:http';
import { runBundle, node24 } from '../test/helpers/runner.ts';
import { freePort } from '../test/helpers/servers.ts';
import { startFakeGithub } from '../test/helpers/fakes/fake-github.ts';
import { spawnSync } from 'node:child_process';

const runs = Math.max(3, Math.min(20, Number(process.argv[2] ?? 7)));
const token = 'ghs_benchToken';
const gh = await startFakeGithub({ token, repository: 'acme/shop' });
const port = await freePort();
const receiver = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(204); res.end(); }); });
await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', () => r()));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const times: Record<string, number[]> = { 'node -e 0': [], 'notify webhook-only': [], 'notify github (Octokit)': [] };
for (let i = 0; i < runs; i++) {
  let t = performance.now();
  spawnSync(node24, ['-e', '0']);
  times['node -e 0']!.push(performance.now() - t);
  t = performance.now();
  const a = await runBundle('notify', { event: 'succeeded', environment: 'bench', channels: 'webhook', 'webhook-url': `http://127.0.0.1:${port}/hook`, 'webhook-secret': 's' });
  times['notify webhook-only']!.push(performance.now() - t);
  t = performance.now();
  const b = await runBundle('notify', { event: 'succeeded', environment: 'bench', channels: 'github', 'github-token': token, 'github-api-url': gh.url });
  times['notify github (Octokit)']!.push(performance.now() - t);
  if (a.code !== 0 || b.code !== 0) throw new Error(`bundle failed: ${a.errors.join(';')} ${b.errors.join(';')}`);
}
receiver.close();
await gh.close();
const base = median(times['node -e 0']!);
console.log(`| Step (${runs} runs, median) | Wall time | × node -e 0 |\n| --- | --- | --- |`);
for (const [k, xs] of Object.entries(times)) console.log(`| ${k} | ${median(xs).toFixed(0)} ms | ${(median(xs) / base).toFixed(2)} |`);

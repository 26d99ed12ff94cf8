/**
 * examples/shop/ops/instance.sh (the command target's platform CLI in the shop example): the
 * instances of one batch are drained and undrained at the same time, each by its own process
 * editing the same nginx upstream file. Without a lock two rewrites raced and one instance stayed
 * `down` (seen in a full CI run: production left with one instance drained; 24 of 30 rounds here).
 * nginx itself is replaced by `true` (NGINX=true): the race is in the file, not in nginx.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../helpers/runner.ts';

const run = promisify(execFile);
const script = join(repoRoot, 'examples/shop/ops/instance.sh');

describe('examples/shop ops/instance.sh', () => {
  it('undrains the instances of one batch at once without losing an edit (20 rounds, 3 instances)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-shop-script-'));
    try {
      const upstream = join(dir, 'upstream.conf');
      const conf = join(dir, 'nginx.conf');
      writeFileSync(conf, '');
      const instances = ['127.0.0.1:1001', '127.0.0.1:1002', '127.0.0.1:1003'];
      let drained = 0;
      for (let round = 0; round < 20; round++) {
        writeFileSync(upstream, `upstream shop {\n${instances.map((i) => `  server ${i} down;`).join('\n')}\n}\n`);
        await Promise.all(instances.map((i) => run('bash', [script, '--root', join(dir, 'root'), '--upstream', upstream, '--nginx-conf', conf, 'undrain', i], { env: { ...process.env, NGINX: 'true' } })));
        if (readFileSync(upstream, 'utf8').includes(' down;')) drained++;
      }
      expect(drained).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

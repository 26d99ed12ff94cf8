// The shop's own unit test (npm test, run by the PR checks): the server starts, answers /health
// and says its version, and stops on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

test('the server answers /health and /version, then stops on SIGTERM', async () => {
  const port = await freePort();
  const app = spawn(process.execPath, ['server.js'], { env: { ...process.env, PORT: String(port), APP_VERSION: 'test' }, stdio: 'ignore' });
  try {
    let health;
    for (let i = 0; i < 50 && !health; i++) {
      health = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
      if (!health) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(health?.status, 200);
    const version = await fetch(`http://127.0.0.1:${port}/version`);
    assert.equal(version.headers.get('x-app-version'), 'test');
  } finally {
    app.kill('SIGTERM');
  }
  const [code] = await new Promise((r) => app.once('exit', (...a) => r(a)));
  assert.equal(code, 0);
});

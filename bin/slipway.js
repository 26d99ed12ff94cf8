#!/usr/bin/env node
// The slipway CLI. It runs the TypeScript sources directly, which needs Node ≥ 22.18 (type stripping);
// on an older Node it re-runs itself with the Node 24 that `npm ci` installs in node_modules.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
if (major > 22 || (major === 22 && minor >= 18)) {
  const { main: run } = await import(main);
  process.exit(await run(process.argv.slice(2)));
}
const node24 = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
if (!existsSync(node24)) {
  console.error(`slipway needs Node 22.18 or newer (this is ${process.version}); run npm ci in the slipway folder to get Node 24.`);
  process.exit(2);
}
const r = spawnSync(node24, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);

/**
 * What a person sees: Markdown (a job summary, a PR comment) rendered as GitHub-flavoured Markdown
 * with `marked`, then photographed by headless Chromium (Debian package `chromium`). Returns the
 * PNG bytes and the HTML body, so a test can check both.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { marked } from 'marked';
import { findBinary } from './servers.ts';

export const chromium = findBinary('chromium') ?? findBinary('chromium-browser');

const CSS = 'body{font:14px -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1000px;margin:24px;color:#1f2328}table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #d1d9e0;padding:6px 12px;text-align:left;vertical-align:top}th{background:#f6f8fa}code{background:#eff1f3;padding:2px 4px;border-radius:4px;font-size:12px}pre{background:#f6f8fa;padding:8px}h2{border-bottom:1px solid #d1d9e0;padding-bottom:6px}a{color:#0969da;text-decoration:none}';

export async function screenshot(markdown: string, size = { width: 1100, height: 1500 }): Promise<{ html: string; png: Buffer }> {
  if (!chromium) throw new Error('chromium is not installed (Debian package chromium)');
  const html = await marked.parse(markdown, { gfm: true });
  const dir = mkdtempSync(join(tmpdir(), 'slipway-shot-'));
  try {
    writeFileSync(join(dir, 'page.html'), `<!doctype html><meta charset="utf-8"><style>${CSS}</style><body>${html}</body>`);
    const png = join(dir, 'page.png');
    execFileSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--screenshot=${png}`, `--window-size=${size.width},${size.height}`, `file://${join(dir, 'page.html')}`], { stdio: 'ignore', timeout: 60_000 });
    return { html, png: readFileSync(png) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A whole HTML page (not Markdown) photographed by headless Chromium. `extraArgs` go to chromium
 * (e.g. --proxy-server=… to catch any request the page would make).
 */
export function screenshotHtml(html: string, size = { width: 1100, height: 1500 }, extraArgs: string[] = []): Buffer {
  if (!chromium) throw new Error('chromium is not installed (Debian package chromium)');
  const dir = mkdtempSync(join(tmpdir(), 'slipway-shot-'));
  try {
    writeFileSync(join(dir, 'page.html'), html);
    const png = join(dir, 'page.png');
    execFileSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', ...extraArgs, `--screenshot=${png}`, `--window-size=${size.width},${size.height}`, `file://${join(dir, 'page.html')}`], { stdio: 'ignore', timeout: 60_000 });
    return readFileSync(png);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

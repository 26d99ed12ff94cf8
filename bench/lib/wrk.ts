/**
 * wrk as the benches' independent client (bench/deploy-local-zero.ts, bench/deploy-rolling-zero.ts):
 * wrk makes no retries; a Lua `response()` hook counts every HTTP status each thread saw, and
 * `done()` prints the sum over the threads plus wrk's own socket-error summary, which
 * parseWrkOutput() reads back.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Client mode: 32 keep-alive connections, or a fresh connection per request (`Connection: close`). */
export type WrkMode = 'keepalive' | 'close';

/** What one wrk run saw. */
export interface WrkResult {
  /** Requests wrk completed (summary.requests). */
  total: number;
  /** Responses per HTTP status, summed over wrk's threads by the Lua hook. */
  statuses: Record<string, number>;
  /** Responses whose status is not 2xx. */
  non2xx: number;
  /** connect + read + write + timeout errors from wrk's summary (requests that got no answer). */
  socketErrors: number;
  /** Those socket errors by kind: connect, read, write, timeout. */
  errors: Record<string, number>;
}

/** A finished run: its counts and how long wrk ran (summary.duration, µs). */
export interface WrkRun {
  result: WrkResult;
  durationUs: number;
}

/**
 * The counting script. `prelude` (Lua lines, each ending in a newline) goes before the counting
 * code, e.g. `wrk.method = "POST"` and a body.
 *
 * Output, after wrk's own summary:
 *   STATUSES 200=123 503=4        responses per status, all threads
 *   ERRORS connect=0 read=0 write=0 status=4 timeout=0
 *   TOTAL <requests> <duration µs>
 */
export function countingLua(prelude = ''): string {
  return `
${prelude}local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local agg = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do agg[k] = (agg[k] or 0) + v end
  end
  io.write("STATUSES")
  for k, v in pairs(agg) do io.write(" " .. k .. "=" .. v) end
  io.write("\\n")
  local e = summary.errors
  io.write(string.format("ERRORS connect=%d read=%d write=%d status=%d timeout=%d\\n", e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("TOTAL %d %d\\n", summary.requests, summary.duration))
end
`;
}

/** Writes a Lua script to a new temporary directory (named from `prefix`); remove() deletes it. */
export function writeLuaScript(lua: string, prefix: string): { file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const file = join(dir, 'count.lua');
  writeFileSync(file, lua);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Reads the lines countingLua()'s done() printed; undefined when any is missing. */
export function parseWrkOutput(out: string): WrkRun | undefined {
  const st = /STATUSES(.*)/.exec(out);
  const er = /ERRORS connect=(\d+) read=(\d+) write=(\d+) status=(\d+) timeout=(\d+)/.exec(out);
  const tot = /TOTAL (\d+) (\d+)/.exec(out);
  if (!st || !er || !tot) return undefined;
  const statuses = Object.fromEntries(
    st[1]!
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((kv) => kv.split('='))
      .map(([k, v]) => [k!, Number(v)]),
  );
  const errors = { connect: Number(er[1]), read: Number(er[2]), write: Number(er[3]), timeout: Number(er[5]) };
  const non2xx = Object.entries(statuses)
    .filter(([k]) => !/^2/.test(k))
    .reduce((a, [, v]) => a + v, 0);
  return {
    result: { total: Number(tot[1]), statuses, non2xx, socketErrors: errors.connect + errors.read + errors.write + errors.timeout, errors },
    durationUs: Number(tot[2]),
  };
}

/**
 * wrk (2 threads, 32 connections, 5 s request timeout) against `${url}/work` with the script in
 * `luaFile`, for up to `seconds`; stop() ends it early with SIGINT (wrk then prints its summary and
 * runs done()). `done` rejects with wrk's output when wrk fails or the script's lines are missing.
 */
export function runWrk(url: string, mode: WrkMode, seconds: number, luaFile: string): { done: Promise<WrkRun>; pid: number; stop(): void } {
  const args = ['-t2', '-c32', `-d${seconds}s`, '--timeout', '5s', '-s', luaFile, ...(mode === 'close' ? ['-H', 'Connection: close'] : []), `${url}/work`];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<WrkRun>((resolve, reject) =>
    child.on('close', (code) => {
      const run = parseWrkOutput(out);
      if (code !== 0 || !run) return reject(new Error(`wrk exited ${code}: ${out}`));
      resolve(run);
    }),
  );
  return { done, pid: child.pid!, stop: () => void child.kill('SIGINT') };
}

/** Requests per second over the whole run, as the rolling bench reports it. */
export function perSecond(run: WrkRun): number {
  return Math.round(run.result.total / (run.durationUs / 1e6));
}

/** The first line of `wrk -v` (wrk exits non-zero after printing it), for the results footer. */
export function wrkVersion(): string | undefined {
  return (() => {
    try {
      return execFileSync('wrk', ['-v'], { encoding: 'utf8' });
    } catch (e) {
      return String((e as { stdout?: string }).stdout ?? '');
    }
  })()
    .split('\n')[0]
    ?.trim();
}

import { UserError, showValue } from './errors.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export const DURATION_HELP = 'a duration such as 500ms, 90s, 2m, 1h30m or 7d (a bare number means seconds)';

/** Parses `500ms`, `90s`, `2m`, `1h30m`, `7d`, or a bare number of seconds. Returns milliseconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== s.length) throw new UserError(`not a duration: ${showValue(text, 60)} (expected ${DURATION_HELP})`);
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  if (m < 60) return s ? `${m}m${s}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
}

export const PERCENT_HELP = 'a percentage such as 25% or 0.5% (0–100)';

/** Parses `25%` or `0.5%` to a fraction (0.25, 0.005). */
export function parsePercent(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (!m) throw new UserError(`not ${PERCENT_HELP}: ${showValue(text, 60)}`);
  const v = Number(m[1]);
  if (v > 100) throw new UserError(`not ${PERCENT_HELP}: ${showValue(text, 60)} is over 100%`);
  return v / 100;
}

export function formatPercent(fraction: number, digits = 2): string {
  return `${(fraction * 100).toFixed(digits).replace(/\.?0+$/, '')}%`;
}

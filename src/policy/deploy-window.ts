/** Deploy windows: "no production deploys Friday after 15:00 or on freeze dates", with a recorded override. */
import { z } from 'zod';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const RULE = /^(sun|mon|tue|wed|thu|fri|sat)(?:\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2}))?$/i;

export const windowSchema = z.strictObject({
  timezone: z
    .string()
    .default('UTC')
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'not a known IANA time zone (e.g. Europe/Berlin)'),
  deny: z.array(z.string().regex(RULE, 'expected a rule like "fri 15:00-24:00" or "sat"')).default([]),
  freeze: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date like 2026-12-24')).default([]),
});

export type DeployWindow = z.output<typeof windowSchema>;

export interface WindowDecision {
  allowed: boolean;
  reason: string;
  overridden: boolean;
}

function localParts(now: Date, timeZone: string) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(now)
      .map((p) => [p.type, p.value]),
  );
  return {
    day: parts.weekday!.toLowerCase().slice(0, 3),
    date: `${parts.year}-${parts.month}-${parts.day}`,
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
    time: `${parts.hour}:${parts.minute}`,
  };
}

/** Whether a deploy may start now. An override (a reason) allows it and is recorded in the decision. */
export function checkDeployWindow(window: DeployWindow, now: Date, override?: string): WindowDecision {
  const local = localParts(now, window.timezone);
  let blocked: string | undefined;
  if (window.freeze.includes(local.date)) blocked = `${local.date} is a freeze date`;
  for (const rule of window.deny) {
    if (blocked) break;
    const m = RULE.exec(rule.trim())!;
    if (m[1]!.toLowerCase() !== local.day) continue;
    if (!m[2]) {
      blocked = `no deploys on ${DAYS.find((d) => d === local.day)} (rule "${rule}")`;
      break;
    }
    const from = Number(m[2]) * 60 + Number(m[3]);
    const to = Number(m[4]) * 60 + Number(m[5]);
    if (local.minutes >= from && local.minutes < to) blocked = `${local.day} ${local.time} ${window.timezone} is inside "${rule}"`;
  }
  if (!blocked) return { allowed: true, reason: `${local.date} ${local.time} ${window.timezone} is inside the deploy window`, overridden: false };
  if (override && override.trim()) return { allowed: true, reason: `${blocked}; overridden: ${override.trim()}`, overridden: true };
  return { allowed: false, reason: `${blocked}; set an override with a reason to deploy anyway`, overridden: false };
}

/** The SLO gate's sources: where one version's numbers come from (a probe, or Prometheus). */
import type { Measurement } from './measurement.ts';
import { Probe } from './probe.ts';
import { errorRatioTimeline, measurePrometheus, standardQueries, toHistogram, type PrometheusSourceOptions } from './prometheus.ts';
import type { Counts } from './slo.ts';

export interface Source {
  /** `version v2` or the probed URLs. */
  label: string;
  kind: 'probe' | 'prometheus';
  start?(durationMs: number, signal?: AbortSignal): void;
  /** Waits until the traffic it started is done (the probe's last requests). */
  settle?(): Promise<void>;
  stop?(): Promise<void>;
  measure(signal?: AbortSignal): Promise<Measurement>;
  /** Good/total requests over a window (Prometheus: burn rates and the error budget). */
  sloCounts?(windowMs: number, signal?: AbortSignal): Promise<Counts | undefined>;
  timeline?(startMs: number, endMs: number, stepMs: number, signal?: AbortSignal): Promise<{ atMs: number; ratio: number }[]>;
  extra?(): Record<string, unknown>;
}

export function probeSource(probe: Probe, label: string): Source {
  return {
    label,
    kind: 'probe',
    start: (d, signal) => probe.start(d, signal),
    settle: () => probe.done(),
    stop: () => probe.stop(),
    measure: async () => probe.snapshot(),
    extra: () => ({ sent: probe.sent, skipped: probe.skippedSends, codes: probe.snapshot().codes, failures: Object.fromEntries(probe.failures) }),
  };
}

export function prometheusSource(
  o: PrometheusSourceOptions,
  version: string | undefined,
  windowMs: number,
  label: string,
  sloSelectorVersion?: string,
): Source {
  return {
    label,
    kind: 'prometheus',
    measure: (signal) => measurePrometheus(o, version, windowMs, signal),
    async sloCounts(w, signal) {
      const q = standardQueries(o.metrics, sloSelectorVersion, w);
      const total = await o.client.query(q.requests, { signal });
      if (!total.length || Number.isNaN(total[0]!.value)) return undefined;
      const n = Math.round(total[0]!.value);
      let good: number;
      if (o.sloLatencyMs !== undefined) {
        let c = 0;
        for (const b of toHistogram(await o.client.query(q.goodBuckets, { signal }))) if (b.leMs <= o.sloLatencyMs + 1e-9) c = b.count;
        good = Math.round(c);
      } else {
        const errs = await o.client.query(q.errors, { signal });
        good = n - Math.round(errs[0]?.value ?? 0);
      }
      return { good: Math.max(0, Math.min(n, good)), total: n };
    },
    timeline: (startMs, endMs, stepMs, signal) => errorRatioTimeline(o, version, { startMs, endMs, stepMs, windowMs, signal }),
  };
}

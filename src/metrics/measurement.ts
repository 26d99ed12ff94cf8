/** What a provider measured for one version over one window: the input of every verdict. */

/** A cumulative latency histogram (Prometheus buckets): requests at or below each bound, ascending. */
export interface HistogramBucket {
  /** Upper bound in milliseconds (Infinity for +Inf). */
  leMs: number;
  /** Requests at or below leMs (cumulative). */
  count: number;
}

export type LatencyData =
  /** Every request's latency (the probe), ascending; failed requests count as Infinity. */
  | { kind: 'samples'; sortedMs: number[] }
  /** A histogram: the gate counts requests slower than the limit (bounded by the bucket edges). */
  | { kind: 'histogram'; buckets: HistogramBucket[] }
  /** Point estimates from a custom query, by quantile (0.99 → ms). */
  | { kind: 'quantiles'; valuesMs: Record<string, number | undefined> };

export interface Measurement {
  /** Requests seen (undefined: the provider cannot tell). */
  requests?: number;
  /** Errors among them: 5xx answers and requests that got no answer. */
  errors?: number;
  /** Set by custom ratio queries that give no counts. */
  errorRatio?: number;
  latency?: LatencyData;
  /** Requests that were good for the SLO (not an error and, with an SLO latency, fast enough). */
  sloGood?: number;
  /** Which latency bound judged "fast enough" (histogram bucket edge), for the report. */
  sloLatencyBoundMs?: number;
  /** Answers by status code (probe), for the report. */
  codes?: Record<string, number>;
  /** The queries that produced this, for the report. */
  queries?: string[];
  /** Seconds of traffic measured (probe) or the query window (Prometheus). */
  windowMs?: number;
}

/** Requests at or below a bound, from a cumulative histogram: the bucket edges around it. */
export function countAtOrBelow(buckets: readonly HistogramBucket[], boundMs: number): { low: number; high: number; lowEdge: number; highEdge: number } {
  let low = 0;
  let lowEdge = 0;
  let high = buckets.length ? buckets[buckets.length - 1]!.count : 0;
  let highEdge = Infinity;
  for (const b of buckets) {
    if (b.leMs <= boundMs + 1e-9) {
      low = b.count;
      lowEdge = b.leMs;
    }
    if (b.leMs >= boundMs - 1e-9) {
      high = b.count;
      highEdge = b.leMs;
      break;
    }
  }
  return { low, high, lowEdge, highEdge };
}

/** histogram_quantile's estimate: linear interpolation inside the bucket (Prometheus' own rule). */
export function histogramQuantile(buckets: readonly HistogramBucket[], q: number): number {
  if (buckets.length === 0) return NaN;
  const total = buckets[buckets.length - 1]!.count;
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevCount = 0;
  let prevLe = 0;
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i]!;
    if (b.count >= rank) {
      if (b.leMs === Infinity) return i > 0 ? buckets[i - 1]!.leMs : NaN;
      if (b.count === prevCount) return b.leMs;
      return prevLe + ((b.leMs - prevLe) * (rank - prevCount)) / (b.count - prevCount);
    }
    prevCount = b.count;
    prevLe = b.leMs;
  }
  return buckets[buckets.length - 1]!.leMs;
}

/** Histogram buckets as grouped data for rank tests: each bucket's requests tie at the bucket's edge. */
export function histogramGroups(buckets: readonly HistogramBucket[]): { value: number; count: number }[] {
  const out: { value: number; count: number }[] = [];
  let prev = 0;
  for (const b of buckets) {
    const c = Math.max(0, Math.round(b.count - prev));
    if (c > 0) out.push({ value: b.leMs === Infinity ? Number.MAX_VALUE : b.leMs, count: c });
    prev = Math.max(prev, b.count);
  }
  return out;
}

/**
 * The probe provider: Slipway's own bounded traffic, for teams without Prometheus and for staging.
 * Sends requests at a fixed rate (open loop: the schedule does not slow down when the server does)
 * to every URL × path in turn, at most `concurrency` in flight, and records each answer's status and
 * latency. An answer ≥ 500, a timeout or a connection error is an error; failed requests count as
 * infinitely slow for latency. Bounded: it stops at its duration, when stopped, or when cancelled.
 */
import { request, type Http } from '../lib/http.ts';
import { errorMessage } from '../lib/errors.ts';
import { redactUrl } from '../lib/secrets.ts';
import type { Measurement } from './measurement.ts';
import { sleep } from '../lib/sleep.ts';

export interface ProbeOptions {
  urls: string[];
  /** Paths appended to each URL. Default ['/']. */
  paths?: string[];
  /** Requests per second, over all URLs. */
  rate: number;
  /** Most requests in flight at once. */
  concurrency: number;
  /** Per request. */
  timeoutMs: number;
  method?: string;
  headers?: Record<string, string>;
  /** When the SLO counts slow requests as bad. */
  sloLatencyMs?: number;
  http?: Http;
}

export interface ProbeRecord {
  atMs: number;
  url: string;
  status: number;
  latencyMs: number;
  error?: string;
}

export function joinUrl(base: string, path: string): string {
  if (!path || path === '/') return base;
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

export class Probe {
  readonly targets: string[];
  private readonly o: ProbeOptions;
  private readonly records: ProbeRecord[] = [];
  private readonly http: Http;
  private controller = new AbortController();
  private loop: Promise<void> | undefined;
  private started = 0;
  private skipped = 0;
  /** Errors without an answer, by message (first few), for the report. */
  readonly failures = new Map<string, number>();

  constructor(o: ProbeOptions) {
    if (o.urls.length === 0) throw new Error('probe: no URLs');
    if (!(o.rate > 0)) throw new Error('probe: rate must be more than 0');
    this.o = o;
    const paths = o.paths?.length ? o.paths : ['/'];
    this.targets = o.urls.flatMap((u) => paths.map((p) => joinUrl(u, p)));
    this.http = o.http ?? request;
  }

  /** Starts sending traffic for durationMs (runs in the background until then, stop() or the signal). */
  start(durationMs: number, signal?: AbortSignal): void {
    if (this.loop) return;
    this.started = performance.now();
    if (signal) signal.addEventListener('abort', () => this.controller.abort(signal.reason), { once: true });
    this.loop = this.run(durationMs);
  }

  private async run(durationMs: number): Promise<void> {
    const signal = this.controller.signal;
    const gap = 1000 / this.o.rate;
    const total = Math.max(1, Math.floor((durationMs / 1000) * this.o.rate));
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < total && !signal.aborted; i++) {
      const due = this.started + i * gap;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait, signal).catch(() => undefined);
      if (signal.aborted) break;
      if (inFlight.size >= this.o.concurrency) {
        // Open loop with a cap: a send that cannot start within its slot is skipped (and counted), so a
        // slow server cannot make the probe run past its duration.
        const raced = await Promise.race([
          Promise.race(inFlight).then(() => true),
          sleep(gap, signal).then(
            () => false,
            () => false,
          ),
        ]);
        if (!raced || inFlight.size >= this.o.concurrency) {
          this.skipped++;
          continue;
        }
      }
      const url = this.targets[i % this.targets.length]!;
      const p = this.send(url).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.allSettled([...inFlight]);
  }

  private async send(url: string): Promise<void> {
    const t0 = performance.now();
    const atMs = t0 - this.started;
    try {
      const res = await this.http(url, {
        method: this.o.method ?? 'GET',
        headers: this.o.headers,
        timeoutMs: this.o.timeoutMs,
        retries: 0,
        signal: this.controller.signal,
        maxBodyBytes: 256 * 1024,
      });
      this.records.push({ atMs, url, status: res.status, latencyMs: performance.now() - t0 });
    } catch (err) {
      if (this.controller.signal.aborted) return; // stopped: not the server's fault
      const msg = errorMessage(err).replace(/^GET \S+ failed after 1 attempt: /, '');
      this.failures.set(msg, (this.failures.get(msg) ?? 0) + 1);
      this.records.push({ atMs, url, status: 0, latencyMs: Infinity, error: msg });
    }
  }

  /** Stops sending; in-flight requests are abandoned (not counted). */
  async stop(): Promise<void> {
    this.controller.abort(new Error('probe stopped'));
    await this.loop?.catch(() => undefined);
  }

  /** Resolves when the probe has sent everything it was asked to send. */
  async done(): Promise<void> {
    await this.loop?.catch(() => undefined);
  }

  get sent(): number {
    return this.records.length;
  }

  get skippedSends(): number {
    return this.skipped;
  }

  /** Everything measured so far (cumulative since start). */
  snapshot(): Measurement {
    const recs = [...this.records];
    const codes: Record<string, number> = {};
    let errors = 0;
    let good = 0;
    const latencies: number[] = [];
    for (const r of recs) {
      const code = r.status === 0 ? 'no answer' : String(r.status);
      codes[code] = (codes[code] ?? 0) + 1;
      const isError = r.status === 0 || r.status >= 500;
      if (isError) errors++;
      else if (this.o.sloLatencyMs === undefined || r.latencyMs <= this.o.sloLatencyMs) good++;
      latencies.push(r.latencyMs);
    }
    latencies.sort((a, b) => a - b);
    return {
      requests: recs.length,
      errors,
      latency: { kind: 'samples', sortedMs: latencies },
      sloGood: good,
      sloLatencyBoundMs: this.o.sloLatencyMs,
      codes,
      windowMs: this.started ? performance.now() - this.started : 0,
    };
  }

  describe(): string {
    return `${this.o.rate} req/s to ${this.targets.map(redactUrl).join(', ')}`;
  }
}

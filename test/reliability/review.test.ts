/**
 * The hostile review's findings (issue 18) through the built bundles, one test each: a token as a
 * URL's user, percent-encoded secrets echoed back, a query string before the API path, a regex that
 * backtracks for hours, a slipway.yml of megabytes. Scenarios: test/reliability/review.ts; the same
 * runs are counted in bench/bad-input.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCENARIOS, reviewServer, type ReviewServer } from './review.ts';

let server: ReviewServer;
beforeAll(async () => {
  server = await reviewServer();
});
afterAll(async () => {
  await server?.close();
});

describe('hostile review (issue 18): each finding holds', () => {
  for (const sc of SCENARIOS) {
    it(`[${sc.finding}] ${sc.name}`, async () => {
      expect(await sc.run(server)).toEqual([]);
    }, 90_000);
  }
});

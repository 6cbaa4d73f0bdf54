// SPDX-License-Identifier: LGPL-2.1-or-later
// The bench's round-trip count on hand-made timelines (no clocks involved).
import { describe, expect, it } from 'vitest';
import { criticalPathRoundTrips, median, phasesOf } from '../../scripts/bench/stats.js';

const req = (arrivedMs: number, finishedMs: number) => ({ arrivedMs, finishedMs });

describe('criticalPathRoundTrips', () => {
  it('is 0 without requests and 1 for one request', () => {
    expect(criticalPathRoundTrips([])).toBe(0);
    expect(criticalPathRoundTrips([req(0, 20)])).toBe(1);
  });

  it('counts token, listing and parallel leaves as 3, however many leaves', () => {
    const leaves = Array.from({ length: 16 }, (_, i) => req(45 + i * 0.2, 65 + i * 0.2));
    expect(criticalPathRoundTrips([req(0, 20), req(22, 42), ...leaves])).toBe(3);
  });

  it('counts leaves fetched one after another each as a round trip', () => {
    expect(criticalPathRoundTrips([req(0, 20), req(22, 42), req(45, 65), req(66, 86)])).toBe(4);
  });

  it('does not chain requests that overlap, whatever order they are listed in', () => {
    expect(criticalPathRoundTrips([req(5, 30), req(0, 20), req(21, 40)])).toBe(2);
  });
});

describe('median and phasesOf', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('splits a run at the first arrival and the last response', () => {
    expect(phasesOf(100, 300, [req(150, 170), req(180, 260), req(190, 200)])).toEqual({
      toFirstRequestMs: 50,
      httpMs: 110,
      afterHttpMs: 40,
    });
  });
});

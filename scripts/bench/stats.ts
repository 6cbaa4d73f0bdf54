// SPDX-License-Identifier: LGPL-2.1-or-later
// Pure number crunching of the bench: medians and the critical path of a request timeline.

/** One HTTP request as the bench's metadata server saw it (CLOCK_MONOTONIC ms, see monotonicMs()). */
export interface TimedRequest {
  readonly method: string;
  readonly url: string;
  status: number;
  readonly arrivedMs: number;
  /** When the response was sent; NaN if it never was. */
  finishedMs: number;
}

/**
 * Sequential round trips on the critical path: depth(r) = 1 + the largest depth of the requests
 * answered before r arrived (0 if none), and the result is the largest depth. Requests in flight
 * together share a depth, so a client that fetches all leaves in parallel scores token + listing
 * + 1 = 3, whatever the number of leaves; one that fetches them one by one scores 2 + leaves.
 */
export function criticalPathRoundTrips(requests: readonly Pick<TimedRequest, 'arrivedMs' | 'finishedMs'>[]): number {
  const byArrival = [...requests].sort((a, b) => a.arrivedMs - b.arrivedMs);
  const depths: number[] = [];
  byArrival.forEach((request, i) => {
    let before = 0;
    for (let j = 0; j < i; j++) {
      if (byArrival[j]!.finishedMs <= request.arrivedMs) before = Math.max(before, depths[j]!);
    }
    depths.push(before + 1);
  });
  return Math.max(0, ...depths);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function max(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : Math.max(...values);
}

/** Where a run's wall time went, ms: before the first request, the HTTP phase, and after it. */
export interface Phases {
  readonly toFirstRequestMs: number;
  readonly httpMs: number;
  readonly afterHttpMs: number;
}

/** Splits [startMs, endMs] at the first request's arrival and the last response. */
export function phasesOf(startMs: number, endMs: number, requests: readonly Pick<TimedRequest, 'arrivedMs' | 'finishedMs'>[]): Phases {
  const first = Math.min(...requests.map((r) => r.arrivedMs));
  const last = Math.max(...requests.map((r) => r.finishedMs));
  return { toFirstRequestMs: first - startMs, httpMs: last - first, afterHttpMs: endMs - last };
}

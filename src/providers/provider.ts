// SPDX-License-Identifier: LGPL-2.1-or-later
import type { ProviderEnvName } from '../config.js';
import type { MetadataHttp } from '../http.js';
import type { Logger } from '../log.js';
import type { InterfaceConfig } from '../model.js';

/** Provider names exactly as upstream logs them ("GCP" is upper case there). */
export type ProviderName = 'ec2' | 'GCP' | 'azure' | 'aliyun' | 'oci';

/** What a provider needs to talk to its metadata server. */
export interface ProviderContext {
  readonly http: MetadataHttp;
  /** Base URL without trailing slash, e.g. "http://169.254.169.254". */
  readonly baseUrl: string;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

/** Outcome of detection: a session bound to this run, or why this cloud is not the one. */
export type DetectResult =
  | { readonly detected: true; readonly session: MetadataSession }
  | { readonly detected: false; readonly reason: string };

/** One cloud, as upstream's NMCSProvider vtable: same shape for every provider. */
export interface Provider {
  readonly name: ProviderName;
  readonly envName: ProviderEnvName;
  readonly defaultBaseUrl: string;
  /** Default of NM_CLOUD_SETUP_ALLOW_NEW_CONN for this cloud. */
  readonly allowNewConnectionsByDefault: boolean;
  /** Probes the metadata server; resolves (never rejects) unless cancelled. */
  detect(context: ProviderContext): Promise<DetectResult>;
}

/** A detected cloud, holding what detection learned (e.g. the EC2 token) for the rest of the run. */
export interface MetadataSession {
  /**
   * Fills `records` (pre-seeded with one record per requested MAC, ifaceIdx -1) from the metadata.
   * Rejects on the first failed sub-request, as upstream does.
   */
  getConfig(records: Map<string, InterfaceConfig>, signal: AbortSignal): Promise<void>;
}

/** Joins URL parts as upstream: a "/" between base and path unless the path already starts with one. */
export function joinUrl(base: string, ...parts: string[]): string {
  const path = parts.join('');
  return path.startsWith('/') ? `${base}${path}` : `${base}/${path}`;
}

/** Returns the record for `hwaddr`, creating an unrequested one if needed. */
export function recordFor(records: Map<string, InterfaceConfig>, hwaddr: string): InterfaceConfig {
  let record = records.get(hwaddr);
  if (record === undefined) {
    record = { hwaddr, ifaceIdx: -1, wasRequested: false, routes: [] };
    records.set(hwaddr, record);
  }
  return record;
}

/**
 * Runs tasks concurrently; the first failure aborts the others and is rethrown, as upstream's
 * internal cancellable does. Resolves only when every task has finished.
 */
export async function allOrNothing<T>(
  signal: AbortSignal,
  tasks: readonly ((signal: AbortSignal) => Promise<T>)[],
): Promise<T[]> {
  const controller = new AbortController();
  const combined = AbortSignal.any([signal, controller.signal]);
  let firstError: { error: unknown } | undefined;
  const results = await Promise.allSettled(
    tasks.map(async (task) => {
      try {
        return await task(combined);
      } catch (error) {
        firstError ??= { error };
        controller.abort();
        throw error;
      }
    }),
  );
  if (firstError !== undefined) throw firstError.error;
  return results.map((result) => (result as PromiseFulfilledResult<T>).value);
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The provider seam: every cloud is one file exporting a Provider of this shape, listed in
 * registry.ts. A provider only reads metadata; what it returns is immutable data (model.ts).
 */
import type { ProviderEnvName } from '../config.js';
import type { MetadataHttp } from '../http.js';
import type { Logger } from '../log.js';
import type { InstanceFacts, MetadataRequest, ProviderName, ProviderResult } from '../model.js';

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
  { readonly detected: true; readonly session: MetadataSession } | { readonly detected: false; readonly reason: string };

/** One cloud, as upstream's NMCSProvider vtable: same shape for every provider. */
export interface Provider {
  readonly name: ProviderName;
  readonly envName: ProviderEnvName;
  readonly defaultBaseUrl: string;
  /** Default of NM_CLOUD_SETUP_ALLOW_NEW_CONN for this cloud. */
  readonly allowNewConnectionsByDefault: boolean;
  /** Default of NM_CLOUD_SETUP_IPV6 for this cloud when the variable is unset (false when absent). */
  readonly ipv6ByDefault?: boolean;
  /**
   * A cloud upstream has no provider for (OpenStack). While it is disabled it logs nothing, so a
   * run without it prints exactly upstream's lines (scripts and log filters match on them).
   */
  readonly notInUpstream?: boolean;
  /** Probes the metadata server; resolves (never rejects) unless cancelled. */
  detect(context: ProviderContext): Promise<DetectResult>;
}

/** A detected cloud, holding what detection learned (e.g. the EC2 token) for the rest of the run. */
export interface MetadataSession {
  /**
   * Reads the metadata of every link the cloud lists. The requested MACs only steer waiting
   * and logging (a listing is polled until they appear). Rejects on the first failed
   * sub-request, as upstream does.
   */
  getConfig(request: MetadataRequest, signal: AbortSignal): Promise<ProviderResult>;
  /** What `status` shows about the instance; every fact is best effort. */
  instanceFacts(signal: AbortSignal): Promise<InstanceFacts>;
}

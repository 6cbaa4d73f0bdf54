// SPDX-License-Identifier: LGPL-2.1-or-later
import type { Config } from '../config.js';
import { CancelledError, explainFailure, isCancellation } from '../errors.js';
import type { HttpRequest, MetadataHttp } from '../http.js';
import type { Logger } from '../log.js';
import type { MetadataSession, Provider } from './types.js';

/** The winner of detection. */
export interface DetectedProvider {
  readonly provider: Provider;
  readonly session: MetadataSession;
  readonly baseUrl: string;
}

/** An enabled provider that did not answer: what was asked, and why it failed. */
export interface DetectFailure {
  readonly provider: string;
  /** "PUT http://169.254.169.254/latest/api/token" (empty when no request was made) */
  readonly request: string;
  /** "connection refused (ECONNREFUSED)", "timed out (no answer)", "HTTP status 404", ... */
  readonly why: string;
}

/** No cloud: every enabled provider that failed (empty: none was enabled). */
export interface NotDetected {
  readonly provider?: undefined;
  readonly tried: readonly DetectFailure[];
}

/**
 * The reason `plan`, `status` and `fetch` give when no cloud was detected. Upstream's per-provider
 * log line only says "timeout expired"; this names the address and the real cause.
 */
export function describeNoCloud(tried: readonly DetectFailure[]): string {
  if (tried.length === 0) {
    return 'no cloud detected: no provider is enabled (set NM_CLOUD_SETUP_EC2, _GCP, _AZURE, _ALIYUN, _OCI or _OPENSTACK to yes)';
  }
  const lines = tried.map(({ provider, request, why }) => `  ${provider}: ${request === '' ? '' : `${request}: `}${why}`);
  return ['no cloud detected; tried:', ...lines].join('\n');
}

/** The provider's HTTP, remembering its last failed request (for DetectFailure). */
function recordingHttp(http: MetadataHttp): {
  readonly http: MetadataHttp;
  readonly failure: () => { request: HttpRequest; error: unknown } | undefined;
} {
  let failure: { request: HttpRequest; error: unknown } | undefined;
  const remember = async <T>(request: HttpRequest, pending: Promise<T>): Promise<T> => {
    try {
      return await pending;
    } catch (error) {
      if (!isCancellation(error)) failure = { request, error };
      throw error;
    }
  };
  return {
    http: {
      request: (request) => remember(request, http.request(request)),
      poll: (request, options) => remember(request, http.poll(request, options)),
      preconnect: (url, count) => http.preconnect(url, count),
      close: () => http.close(),
    },
    failure: () => failure,
  };
}

/**
 * Turns NM_CLOUD_SETUP_<P>_HOST into a base URL: used as is when it has a scheme, else
 * "http://" is prefixed. A trailing "/" is dropped, which upstream forgets to do.
 */
export function resolveBaseUrl(provider: Provider, config: Config, log: Logger): string {
  const host = config.hostOverrides.get(provider.envName);
  if (host === undefined) return provider.defaultBaseUrl;
  // Upstream passes a value with "/" to curl as is, and curl reads a scheme-less URL as http.
  let url = /^[a-z][a-z0-9+.-]*:\/\//i.test(host) ? host : `http://${host}`;
  url = url.replace(/\/+$/, '');
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    log.warn(`invalid NM_CLOUD_SETUP_${provider.envName}_HOST="${host}": not an http(s) URL; using "${provider.defaultBaseUrl}"`);
    return provider.defaultBaseUrl;
  }
  if (url !== provider.defaultBaseUrl) {
    log.debug(`test: mock NM_CLOUD_SETUP_${provider.envName}_HOST="${host}" (default "${provider.defaultBaseUrl}")`);
  }
  return url;
}

/**
 * Detects all enabled providers concurrently; the first to succeed wins and aborts the others.
 * Resolves NotDetected when none is detected; rejects with CancelledError on SIGTERM.
 */
export async function detectProvider(
  providers: readonly Provider[],
  config: Config,
  deps: { readonly http: MetadataHttp; readonly log: Logger; readonly signal: AbortSignal },
): Promise<DetectedProvider | NotDetected> {
  const { log, signal } = deps;
  const race = new AbortController();
  const raceSignal = AbortSignal.any([signal, race.signal]);
  let winner: DetectedProvider | undefined;
  const tried: DetectFailure[] = [];

  await Promise.all(
    providers.map(async (provider) => {
      const enabled = config.enabledProviders.has(provider.envName);
      if (!enabled && provider.notInUpstream === true) return;
      log.debug(`start detecting ${provider.name} provider...`);
      if (!enabled) {
        log.info(`provider ${provider.name} not detected: provider is disabled`);
        return;
      }
      const baseUrl = resolveBaseUrl(provider, config, log);
      const recording = recordingHttp(deps.http);
      try {
        const result = await provider.detect({ http: recording.http, baseUrl, log, signal: raceSignal });
        if (result.detected && winner === undefined) {
          winner = { provider, session: result.session, baseUrl };
          log.info(`provider ${provider.name} detected`);
          race.abort();
        } else if (!result.detected) {
          tried.push(detectFailure(provider, result.reason, recording.failure()));
          log.info(`provider ${provider.name} not detected: ${result.reason}`);
        }
      } catch (error) {
        if (!isCancellation(error)) throw error;
        log.debug(`provider ${provider.name} detection cancelled`);
      }
    }),
  );

  if (winner !== undefined) return winner;
  if (signal.aborted) {
    log.info('no provider detected');
    throw new CancelledError();
  }
  // Upstream: WARN when an enabled provider really failed, INFO when none was enabled.
  if (tried.length > 0) log.warn('no provider detected');
  else log.info('no provider detected');
  // In registry order, whichever answered first.
  tried.sort((a, b) => providers.findIndex((p) => p.name === a.provider) - providers.findIndex((p) => p.name === b.provider));
  return { tried };
}

function detectFailure(provider: Provider, reason: string, failure: { request: HttpRequest; error: unknown } | undefined): DetectFailure {
  if (failure === undefined) return { provider: provider.name, request: '', why: reason };
  const { request, error } = failure;
  return { provider: provider.name, request: `${request.method ?? 'GET'} ${request.url}`, why: explainFailure(error) };
}

// SPDX-License-Identifier: LGPL-2.1-or-later
import type { Config } from '../config.js';
import { CancelledError, isCancellation } from '../errors.js';
import type { MetadataHttp } from '../http.js';
import type { Logger } from '../log.js';
import type { MetadataSession, Provider } from './types.js';

/** The winner of detection. */
export interface DetectedProvider {
  readonly provider: Provider;
  readonly session: MetadataSession;
  readonly baseUrl: string;
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
 * Resolves undefined when none is detected; rejects with CancelledError on SIGTERM.
 */
export async function detectProvider(
  providers: readonly Provider[],
  config: Config,
  deps: { readonly http: MetadataHttp; readonly log: Logger; readonly signal: AbortSignal },
): Promise<DetectedProvider | undefined> {
  const { http, log, signal } = deps;
  const race = new AbortController();
  const raceSignal = AbortSignal.any([signal, race.signal]);
  let winner: DetectedProvider | undefined;
  let hadRealFailure = false;

  await Promise.all(
    providers.map(async (provider) => {
      log.debug(`start detecting ${provider.name} provider...`);
      if (!config.enabledProviders.has(provider.envName)) {
        log.info(`provider ${provider.name} not detected: provider is disabled`);
        return;
      }
      const baseUrl = resolveBaseUrl(provider, config, log);
      try {
        const result = await provider.detect({ http, baseUrl, log, signal: raceSignal });
        if (result.detected && winner === undefined) {
          winner = { provider, session: result.session, baseUrl };
          log.info(`provider ${provider.name} detected`);
          race.abort();
        } else if (!result.detected) {
          hadRealFailure = true;
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
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set inside the detection callbacks
  if (hadRealFailure) log.warn('no provider detected');
  else log.info('no provider detected');
  return undefined;
}

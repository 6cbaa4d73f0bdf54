// SPDX-License-Identifier: LGPL-2.1-or-later
import { describe, expect, test } from 'vitest';
import { readConfig, type ProviderEnvName } from '../../src/config.js';
import { CancelledError } from '../../src/errors.js';
import type { MetadataHttp } from '../../src/http.js';
import { createLogger, type Logger } from '../../src/log.js';
import { detectProvider, resolveBaseUrl } from '../../src/providers/detect.js';
import type { ProviderName } from '../../src/model.js';
import type { DetectResult, MetadataSession, Provider, ProviderContext } from '../../src/providers/types.js';

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'trace', sink: (line) => lines.push(line), clock: () => 0n }), lines };
}

/** detectProvider must hand this to the providers untouched; the fakes never use it. */
const http: MetadataHttp = {
  request: () => Promise.reject(new Error('no HTTP in this test')),
  poll: () => Promise.reject(new Error('no HTTP in this test')),
  preconnect: () => undefined,
  close: () => {},
};

const session = (tag: string): MetadataSession & { tag: string } => ({
  tag,
  getConfig: () => Promise.resolve({ interfaces: [], withdrawn: [] }),
  instanceFacts: () => Promise.resolve({}),
});

/** A Provider whose detect() the test drives: it records its context and settles when told. */
interface FakeProvider extends Provider {
  readonly calls: ProviderContext[];
  /** Settles the pending detect() with a result. */
  resolve(result: DetectResult): void;
  /** True once detect() has settled, either way. */
  settled: boolean;
}

function fakeProvider(
  name: ProviderName,
  envName: ProviderEnvName,
  options: { ignoreAbort?: boolean; defaultBaseUrl?: string } = {},
): FakeProvider {
  let settle: ((result: DetectResult) => void) | undefined;
  const fake: FakeProvider = {
    name,
    envName,
    defaultBaseUrl: options.defaultBaseUrl ?? 'http://169.254.169.254',
    allowNewConnectionsByDefault: false,
    calls: [],
    settled: false,
    resolve(result) {
      settle?.(result);
    },
    detect(context) {
      fake.calls.push(context);
      return new Promise<DetectResult>((resolve, reject) => {
        settle = (result) => {
          fake.settled = true;
          resolve(result);
        };
        if (options.ignoreAbort === true) return;
        // Like the real providers: an abort of the context's signal ends detection as a cancellation.
        const cancel = (): void => {
          fake.settled = true;
          reject(new CancelledError());
        };
        if (context.signal.aborted) cancel();
        else context.signal.addEventListener('abort', cancel, { once: true });
      });
    },
  };
  return fake;
}

const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The level and text of every line, without the timestamp. */
const messages = (lines: readonly string[]): string[] => lines.map((line) => line.replace(/^\[\d+\.\d{4}\] <(\w+)>\s+/, '$1 '));

const enable = (...names: ProviderEnvName[]) => readConfig(Object.fromEntries(names.map((name) => [`NM_CLOUD_SETUP_${name}`, 'yes'])));

describe('detectProvider', () => {
  test('disabled providers are never asked and log "provider is disabled" at INFO; all disabled → INFO', async () => {
    const ec2 = fakeProvider('ec2', 'EC2');
    const gcp = fakeProvider('GCP', 'GCP');
    const { log, lines } = capture();
    const result = await detectProvider([ec2, gcp], readConfig({ NM_CLOUD_SETUP_EC2: 'no' }), {
      http,
      log,
      signal: new AbortController().signal,
    });
    expect(result).toEqual({ tried: [] });
    expect(ec2.calls).toHaveLength(0);
    expect(gcp.calls).toHaveLength(0);
    expect(messages(lines)).toEqual([
      'debug start detecting ec2 provider...',
      'info provider ec2 not detected: provider is disabled',
      'debug start detecting GCP provider...',
      'info provider GCP not detected: provider is disabled',
      'info no provider detected',
    ]);
  });

  test('the first success wins; the others see their signal aborted and log "detection cancelled"', async () => {
    const ec2 = fakeProvider('ec2', 'EC2');
    const gcp = fakeProvider('GCP', 'GCP');
    const azure = fakeProvider('azure', 'AZURE');
    const { log, lines } = capture();
    const pending = detectProvider([ec2, gcp, azure], enable('EC2', 'GCP', 'AZURE'), {
      http,
      log,
      signal: new AbortController().signal,
    });
    await tick();
    // All started concurrently, each with the shared http (seen through a recorder of its
    // failures, for DetectFailure) and its own resolved base URL.
    expect([ec2.calls.length, gcp.calls.length, azure.calls.length]).toEqual([1, 1, 1]);
    await expect(ec2.calls[0]?.http.poll({ url: 'u', timeoutMs: 1, maxBytes: 1 }, { overallMs: 1, intervalMs: 1 })).rejects.toThrow(
      'no HTTP in this test',
    );
    expect(ec2.calls[0]?.baseUrl).toBe('http://169.254.169.254');
    expect(ec2.calls[0]?.signal.aborted).toBe(false);

    // The second provider in the list answers first: order does not matter, time does.
    const gcpSession = session('gcp');
    gcp.resolve({ detected: true, session: gcpSession });
    const result = await pending;

    expect(result).toEqual({ provider: gcp, session: gcpSession, baseUrl: 'http://169.254.169.254' });
    expect(ec2.calls[0]?.signal.aborted).toBe(true);
    expect(azure.calls[0]?.signal.aborted).toBe(true);
    const got = messages(lines);
    expect(got).toContain('info provider GCP detected');
    expect(got).toContain('debug provider ec2 detection cancelled');
    expect(got).toContain('debug provider azure detection cancelled');
    expect(got.some((line) => line.includes('no provider detected'))).toBe(false);
    expect(got.some((line) => line.startsWith('warn'))).toBe(false);
  });

  test('waits until every detect callback has settled before resolving', async () => {
    const ec2 = fakeProvider('ec2', 'EC2');
    const gcp = fakeProvider('GCP', 'GCP', { ignoreAbort: true });
    const { log } = capture();
    let done = false;
    const pending = detectProvider([ec2, gcp], enable('EC2', 'GCP'), {
      http,
      log,
      signal: new AbortController().signal,
    }).then((result) => {
      done = true;
      return result;
    });
    await tick();
    ec2.resolve({ detected: true, session: session('ec2') });
    await tick(20);
    // GCP ignores the abort for now: detection is not over yet.
    expect(gcp.calls[0]?.signal.aborted).toBe(true);
    expect(done).toBe(false);
    gcp.resolve({ detected: false, reason: 'late' });
    const result = await pending;
    expect(result?.provider).toBe(ec2);
    expect(gcp.settled).toBe(true);
  });

  test('a second success after the winner does not replace it', async () => {
    const ec2 = fakeProvider('ec2', 'EC2');
    const gcp = fakeProvider('GCP', 'GCP', { ignoreAbort: true });
    const { log, lines } = capture();
    const pending = detectProvider([ec2, gcp], enable('EC2', 'GCP'), {
      http,
      log,
      signal: new AbortController().signal,
    });
    await tick();
    ec2.resolve({ detected: true, session: session('ec2') });
    await tick();
    gcp.resolve({ detected: true, session: session('gcp') });
    const result = await pending;
    expect(result?.provider).toBe(ec2);
    expect(messages(lines).filter((line) => line.endsWith(' detected'))).toEqual(['info provider ec2 detected']);
  });

  test('all enabled providers fail → what was tried, and "no provider detected" at WARN', async () => {
    const ec2 = fakeProvider('ec2', 'EC2');
    const gcp = fakeProvider('GCP', 'GCP');
    const { log, lines } = capture();
    const pending = detectProvider([ec2, gcp], enable('EC2', 'GCP'), {
      http,
      log,
      signal: new AbortController().signal,
    });
    await tick();
    ec2.resolve({ detected: false, reason: 'failure to get EC2 metadata: timeout expired' });
    gcp.resolve({ detected: false, reason: 'failure to get GCP metadata: timeout expired' });
    // These fakes make no request: the reason is all there is to say.
    expect(await pending).toEqual({
      tried: [
        { provider: 'ec2', request: '', why: 'failure to get EC2 metadata: timeout expired' },
        { provider: 'GCP', request: '', why: 'failure to get GCP metadata: timeout expired' },
      ],
    });
    const got = messages(lines);
    expect(got).toContain('info provider ec2 not detected: failure to get EC2 metadata: timeout expired');
    expect(got).toContain('info provider GCP not detected: failure to get GCP metadata: timeout expired');
    expect(got.at(-1)).toBe('warn no provider detected');
  });

  test('one disabled, one failed → WARN (a real failure happened)', async () => {
    const ec2 = fakeProvider('ec2', 'EC2');
    const oci = fakeProvider('oci', 'OCI');
    const { log, lines } = capture();
    const pending = detectProvider([ec2, oci], enable('OCI'), { http, log, signal: new AbortController().signal });
    await tick();
    oci.resolve({ detected: false, reason: 'failure to get OCI instance data: timeout expired' });
    expect(await pending).toEqual({ tried: [{ provider: 'oci', request: '', why: 'failure to get OCI instance data: timeout expired' }] });
    expect(ec2.calls).toHaveLength(0);
    const got = messages(lines);
    expect(got).toContain('info provider ec2 not detected: provider is disabled');
    expect(got.at(-1)).toBe('warn no provider detected');
  });

  test('an empty provider list → nothing tried, INFO', async () => {
    const { log, lines } = capture();
    expect(await detectProvider([], enable('EC2'), { http, log, signal: new AbortController().signal })).toEqual({ tried: [] });
    expect(messages(lines)).toEqual(['info no provider detected']);
  });

  test('SIGTERM (outer abort) → CancelledError, providers cancelled, "no provider detected" at INFO', async () => {
    const ec2 = fakeProvider('ec2', 'EC2');
    const gcp = fakeProvider('GCP', 'GCP');
    const { log, lines } = capture();
    const sigterm = new AbortController();
    const pending = detectProvider([ec2, gcp], enable('EC2', 'GCP'), { http, log, signal: sigterm.signal });
    await tick();
    // One has already failed for real: still INFO, because SIGTERM arrived.
    gcp.resolve({ detected: false, reason: 'failure to get GCP metadata: timeout expired' });
    await tick();
    sigterm.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    expect(ec2.calls[0]?.signal.aborted).toBe(true);
    const got = messages(lines);
    expect(got).toContain('debug provider ec2 detection cancelled');
    expect(got.at(-1)).toBe('info no provider detected');
    expect(got.some((line) => line.startsWith('warn'))).toBe(false);
  });

  test('an already aborted outer signal → CancelledError', async () => {
    const ec2 = fakeProvider('ec2', 'EC2');
    const { log, lines } = capture();
    await expect(detectProvider([ec2], enable('EC2'), { http, log, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CancelledError);
    expect(messages(lines).at(-1)).toBe('info no provider detected');
  });

  test('the host override reaches the provider as its base URL', async () => {
    const ec2 = fakeProvider('ec2', 'EC2');
    const { log, lines } = capture();
    const config = readConfig({ NM_CLOUD_SETUP_EC2: 'yes', NM_CLOUD_SETUP_EC2_HOST: 'localhost:8000' });
    const pending = detectProvider([ec2], config, { http, log, signal: new AbortController().signal });
    await tick();
    expect(ec2.calls[0]?.baseUrl).toBe('http://localhost:8000');
    ec2.resolve({ detected: true, session: session('ec2') });
    expect(await pending).toMatchObject({ baseUrl: 'http://localhost:8000' });
    expect(messages(lines)).toContain('debug test: mock NM_CLOUD_SETUP_EC2_HOST="localhost:8000" (default "http://169.254.169.254")');
  });
});

describe('resolveBaseUrl', () => {
  const provider = fakeProvider('ec2', 'EC2');
  const resolve = (host: string | undefined) => {
    const { log, lines } = capture();
    const config = readConfig(host === undefined ? {} : { NM_CLOUD_SETUP_EC2_HOST: host });
    return { url: resolveBaseUrl(provider, config, log), lines: messages(lines) };
  };
  const mockLine = (host: string) => `debug test: mock NM_CLOUD_SETUP_EC2_HOST="${host}" (default "http://169.254.169.254")`;

  test('unset or empty → the default, silently', () => {
    expect(resolve(undefined)).toEqual({ url: 'http://169.254.169.254', lines: [] });
    expect(resolve('')).toEqual({ url: 'http://169.254.169.254', lines: [] });
  });

  test.each([
    ['1.2.3.4:8080', 'http://1.2.3.4:8080'],
    ['localhost', 'http://localhost'],
    ['https://x', 'https://x'],
    ['http://localhost:8000', 'http://localhost:8000'],
    ['HTTP://Example.com:81', 'HTTP://Example.com:81'],
    // A trailing slash is dropped (upstream would build "//" paths).
    ['http://localhost:8000/', 'http://localhost:8000'],
    ['http://localhost:8000/prefix/', 'http://localhost:8000/prefix'],
    ['https://x//', 'https://x'],
  ])('%j → %j with the "test: mock" debug line', (host, url) => {
    expect(resolve(host)).toEqual({ url, lines: [mockLine(host)] });
  });

  // A value containing "/" is used verbatim upstream, i.e. handed to curl as is; curl takes a
  // scheme-less URL as http. So "host/path" reaches http://host/path and must not be refused.
  test.each([
    ['host/path', 'http://host/path'],
    ['localhost:8000/', 'http://localhost:8000'],
    ['127.0.0.1:8000/imds', 'http://127.0.0.1:8000/imds'],
  ])('scheme-less %j containing "/" → %j, no warning', (host, url) => {
    expect(resolve(host)).toEqual({ url, lines: [mockLine(host)] });
  });

  test('the default itself logs nothing', () => {
    expect(resolve('http://169.254.169.254')).toEqual({ url: 'http://169.254.169.254', lines: [] });
  });

  test.each(['http://', 'https://', 'ftp://x', 'file:///etc/passwd', 'http://[::1'])(
    'invalid %j → one warning naming the variable, and the default',
    (host) => {
      const { url, lines } = resolve(host);
      expect(url).toBe('http://169.254.169.254');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^warn /);
      expect(lines[0]).toContain(`NM_CLOUD_SETUP_EC2_HOST="${host}"`);
    },
  );
});

// SPDX-License-Identifier: LGPL-2.1-or-later
// vitest setupFiles: no test may reach the real network; loopback servers and private buses stay usable.
import nock from 'nock';
import { afterEach } from 'vitest';

nock.disableNetConnect();
// All of 127.0.0.0/8 is loopback (test/helpers/closed-endpoint.ts uses other addresses in it).
nock.enableNetConnect((host) => host.startsWith('127.') || host.startsWith('localhost'));

afterEach(() => {
  nock.cleanAll();
});

// SPDX-License-Identifier: LGPL-2.1-or-later
// vitest setupFiles: no test may reach the real network; loopback servers and private buses stay usable.
import nock from 'nock';
import { afterEach } from 'vitest';

nock.disableNetConnect();
nock.enableNetConnect((host) => host.startsWith('127.0.0.1') || host.startsWith('localhost'));

afterEach(() => {
  nock.cleanAll();
});

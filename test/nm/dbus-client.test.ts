// SPDX-License-Identifier: LGPL-2.1-or-later
// The dbus-next NmClient under faults, on a private dbus-daemon with a minimal NetworkManager:
// devices that vanish while being listed, a daemon that never answers, the bus daemon dying
// with calls in flight, close() with calls in flight, and a bus socket that never speaks.
// Call timeouts are set far beyond the test's own timeout: a call that waits for its timeout
// instead of failing at once fails the test (no stopwatch needed).
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import dbus from 'dbus-next';
import { NmError, NmTimeoutError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { connectNmClient } from '../../src/nm/dbus-client.js';
import type { NmClient } from '../../src/nm/nm-client.js';
import { startPrivateBus, type PrivateBus } from '../harness/dbus-daemon.js';
import { scratchDir } from '../helpers/scratch.js';

const NM = 'org.freedesktop.NetworkManager';
const NM_PATH = '/org/freedesktop/NetworkManager';
const DEV1 = `${NM_PATH}/Devices/1`;
const GONE = `${NM_PATH}/Devices/115`;
/** Far beyond any test timeout of the suite. */
const NEVER_MS = 600_000;

/** Manager.GetDevices: the listed paths, or no answer at all (a frozen daemon). */
class Manager extends dbus.interface.Interface {
  paths: string[] = [DEV1];
  frozen = false;
  goneError = 'org.freedesktop.DBus.Error.UnknownMethod';
  constructor() {
    super(NM);
  }
  GetDevices(): string[] | Promise<string[]> {
    return this.frozen ? new Promise<string[]>(() => {}) : this.paths;
  }
}
Manager.configureMembers({ methods: { GetDevices: { outSignature: 'ao' } } });

class Device extends dbus.interface.Interface {
  constructor() {
    super(`${NM}.Device`);
  }
  get Interface(): string {
    return 'eth0';
  }
  get DeviceType(): number {
    return 1;
  }
  get State(): number {
    return 100;
  }
  get HwAddress(): string {
    return 'cc:00:00:00:00:01';
  }
  get ActiveConnection(): string {
    return '/';
  }
}
Device.configureMembers({
  properties: {
    Interface: { signature: 's', access: 'read' },
    DeviceType: { signature: 'u', access: 'read' },
    State: { signature: 'u', access: 'read' },
    HwAddress: { signature: 's', access: 'read' },
    ActiveConnection: { signature: 'o', access: 'read' },
  },
});

const cleanups: (() => Promise<unknown> | undefined)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A private bus with the minimal NetworkManager on it, and a client; both stopped after the test. */
async function startNm(): Promise<{ bus: PrivateBus; manager: Manager; client: NmClient; lines: string[] }> {
  const bus = await startPrivateBus();
  cleanups.push(() => bus.stop());
  const service = dbus.sessionBus({ busAddress: bus.address });
  // The daemon may die under the service in a test: that is not the service's failure.
  service.on('error', () => {});
  cleanups.push(() => {
    service.disconnect();
    return undefined;
  });
  const manager = new Manager();
  service.export(NM_PATH, manager);
  service.export(DEV1, new Device());
  // NetworkManager (GDBus) answers a call on a removed object like this; newer GLib says UnknownObject.
  service.addMethodHandler((message: dbus.Message) => {
    if (message.path !== GONE) return false;
    // (dbus-next's types call the first parameter a string; it is the message being answered.)
    service.send(dbus.Message.newError(message as unknown as string, manager.goneError, `Object does not exist at path “${GONE}”`));
    return true;
  });
  await service.requestName(NM, 0);
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', sink: (line) => lines.push(line), clock: () => 0n });
  const client = await connectNmClient({ busAddress: bus.address, timeoutMs: NEVER_MS, log });
  cleanups.push(() => client.close());
  return { bus, manager, client, lines };
}

describe('devices that come and go', () => {
  it.each(['UnknownMethod', 'UnknownObject'])(
    'a device removed between GetDevices and reading it (%s) is dropped, with a debug line',
    async (name) => {
      const { manager, client, lines } = await startNm();
      manager.paths = [DEV1, GONE];
      manager.goneError = `org.freedesktop.DBus.Error.${name}`;
      const devices = await client.getDevices();
      expect(devices.map((device) => device.path)).toEqual([DEV1]);
      expect(lines).toEqual([`[0.0000] <debug> device ${GONE} vanished while listing devices: Object does not exist at path “${GONE}”`]);
    },
  );

  it('any other failure to read a device still fails the listing', async () => {
    const { manager, client } = await startNm();
    manager.paths = [DEV1, GONE];
    manager.goneError = 'org.freedesktop.DBus.Error.AccessDenied';
    await expect(client.getDevices()).rejects.toMatchObject({ code: 'ERR_NM', dbusName: 'org.freedesktop.DBus.Error.AccessDenied' });
    // The other device's reads are still in flight: let them finish before the service goes.
    manager.paths = [DEV1];
    await client.getDevices();
  });

  it('a daemon that does not answer: the listing fails with NmTimeoutError, never an empty list', async () => {
    const bus = await startPrivateBus();
    cleanups.push(() => bus.stop());
    const service = dbus.sessionBus({ busAddress: bus.address });
    cleanups.push(() => {
      service.disconnect();
      return undefined;
    });
    const manager = new Manager();
    manager.frozen = true;
    service.export(NM_PATH, manager);
    await service.requestName(NM, 0);
    const client = await connectNmClient({ busAddress: bus.address, timeoutMs: 50 });
    cleanups.push(() => client.close());
    await expect(client.getDevices()).rejects.toBeInstanceOf(NmTimeoutError);
  });
});

describe('the bus going away', () => {
  it('the bus daemon dying fails the pending call and every later one at once, not by timeout', async () => {
    const { bus, manager, client } = await startNm();
    manager.frozen = true;
    const pending = client.getDevices().catch((error: unknown) => error);
    await bus.stop();
    const failure: unknown = await pending;
    expect(failure).toBeInstanceOf(NmError);
    expect(failure).not.toBeInstanceOf(NmTimeoutError);
    // A call made after the socket closed (dbus-next reports that before the call is set up).
    const later: unknown = await client.isRunning().catch((error: unknown) => error);
    expect(later).toBeInstanceOf(NmError);
    expect(later).not.toBeInstanceOf(NmTimeoutError);
  });

  it('close() fails the calls still in flight instead of leaving them to their timers', async () => {
    const { manager, client } = await startNm();
    manager.frozen = true;
    const pending = client.getDevices().catch((error: unknown) => error);
    await client.close();
    expect(await pending).toMatchObject({ code: 'ERR_NM', message: 'the D-Bus connection was closed' });
  });
});

describe('a bus socket that never speaks', () => {
  /** A unix socket that accepts and then says nothing, and never closes its side. */
  async function silentSocket(): Promise<{ path: string; accepted: Promise<Socket> }> {
    const path = join(scratchDir('nmcs-silent-'), 'bus.sock');
    let accept: (socket: Socket) => void = () => {};
    const accepted = new Promise<Socket>((resolve) => (accept = resolve));
    const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => {});
      accept(socket);
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(async () => (await accepted).destroy());
    return { path, accepted };
  }

  it('the connection attempt times out and the socket is closed, not left half-open', async () => {
    const { path, accepted } = await silentSocket();
    const failure: unknown = await connectNmClient({ busAddress: `unix:path=${path}`, timeoutMs: 100 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(NmTimeoutError);
    // Half-closed (end()) the client could still read, and the process would wait for the
    // peer; destroyed, a write from the peer fails.
    const peer = await accepted;
    const written = await new Promise<unknown>((resolve) => {
      peer.once('error', resolve);
      peer.write('x', (error) => {
        if (error) resolve(error);
        else setTimeout(() => peer.write('y', (again) => resolve(again ?? 'written')), 50);
      });
    });
    expect(written).toMatchObject({ code: expect.stringMatching(/^(EPIPE|ECONNRESET)$/) as unknown });
  });
});

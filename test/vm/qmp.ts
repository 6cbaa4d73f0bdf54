// SPDX-License-Identifier: LGPL-2.1-or-later
// A minimal QMP client (QEMU's JSON control protocol on a unix socket): enough to hotplug and
// unplug a NIC. One command at a time; events are kept until someone waits for them.
import net from 'node:net';

interface QmpMessage {
  readonly return?: unknown;
  readonly error?: { readonly class: string; readonly desc: string };
  readonly event?: string;
  readonly data?: Record<string, unknown>;
  readonly QMP?: unknown;
}

export class Qmp {
  private buffer = '';
  private readonly messages: QmpMessage[] = [];
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (line !== '') this.messages.push(JSON.parse(line) as QmpMessage);
      }
      this.wake?.();
    });
  }

  /** Connects, reads the greeting and leaves capabilities negotiation mode. */
  static async connect(path: string): Promise<Qmp> {
    const socket = net.createConnection(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const qmp = new Qmp(socket);
    await qmp.next((m) => m.QMP !== undefined, 10_000);
    await qmp.execute('qmp_capabilities');
    return qmp;
  }

  /** Runs a command; rejects with QEMU's error description. */
  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    this.socket.write(`${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`);
    const reply = await this.next((m) => m.return !== undefined || m.error !== undefined, 30_000);
    if (reply.error !== undefined) throw new Error(`QMP ${command}: ${reply.error.class}: ${reply.error.desc}`);
    return reply.return;
  }

  /** Waits for an event (e.g. DEVICE_DELETED once the guest released the device). */
  async event(name: string, timeoutMs: number): Promise<QmpMessage> {
    return this.next((m) => m.event === name, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }

  private async next(match: (m: QmpMessage) => boolean, timeoutMs: number): Promise<QmpMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(match);
      if (i >= 0) return this.messages.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`QMP: no reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

// SPDX-License-Identifier: LGPL-2.1-or-later
// A TCP delay line for `npm run bench -- --realnm`, run in the cloud namespace in front of the
// metadata server (this kernel has no netem):
//   node delay-proxy.mjs LISTEN_HOST:PORT TARGET_HOST:PORT RTT_MS
// Every byte is forwarded RTT/2 after it arrived, in each direction, in order. The kernel
// completes the TCP handshake at once, so a new connection's first client bytes are held until
// 1.5 RTT after the connection was accepted: what a client that writes as soon as it is
// connected sees on a real link (SYN, SYN-ACK: one RTT; then its request: half of one). The
// server's answers then take the other half. Prints {"port":N} once listening.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const [listen, target, rttArg] = process.argv.slice(2);
const rttMs = Number(rttArg);
const split = (hostPort) => {
  const at = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, at), port: Number(hostPort.slice(at + 1)) };
};
if (listen === undefined || target === undefined || !(rttMs >= 0)) {
  process.stderr.write('usage: delay-proxy.mjs LISTEN_HOST:PORT TARGET_HOST:PORT RTT_MS\n');
  process.exit(2);
}

/** Writes (or ends, for null) on `to` at `notBefore` ms or later, keeping the order of the calls. */
function delayedWriter(to) {
  let last = 0;
  return (chunk, notBefore) => {
    const at = Math.max(notBefore, last);
    last = at;
    setTimeout(() => (chunk === null ? to.end() : to.write(chunk)), at - performance.now());
  };
}

const server = net.createServer((client) => {
  const acceptedAt = performance.now();
  const upstream = net.connect(split(target));
  const toServer = delayedWriter(upstream);
  const toClient = delayedWriter(client);
  // The handshake the kernel already did would have cost a round trip first.
  const firstByteAt = acceptedAt + rttMs * 1.5;
  client.on('data', (chunk) => toServer(chunk, Math.max(firstByteAt, performance.now() + rttMs / 2)));
  client.on('end', () => toServer(null, performance.now() + rttMs / 2));
  upstream.on('data', (chunk) => toClient(chunk, performance.now() + rttMs / 2));
  upstream.on('end', () => toClient(null, performance.now() + rttMs / 2));
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', () => setTimeout(() => upstream.destroy(), rttMs));
});
const { host, port } = split(listen);
server.listen(port, host, () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

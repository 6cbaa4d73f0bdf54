#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// test/harness/imds-server.mjs - a dependency-free cloud metadata (IMDS) mock for tests.
//
//   node test/harness/imds-server.mjs --config <file.json> [--log <file>] [--listen host:port]
//
// --listen defaults to 169.254.169.254:80 (run it in the realnm "cloud" netns:
// `realnm.sh cloud-exec node test/harness/imds-server.mjs ...`); use 127.0.0.1:0 for a
// random loopback port.  Once listening it prints one JSON line {"port":N} on stdout.
//
// Config (re-read whenever the file changes, so tests can swap metadata between runs;
// write it atomically, e.g. to a temp file + rename):
//   {
//     "ec2Token": "tok",            // optional: enables IMDSv2 (see below)
//     "ec2TokenOptional": true,     // optional: with ec2Token, a GET without a token header is
//                                   // answered too (EC2's HttpTokens=optional: IMDSv1 clients work)
//     "requireHeaders": {"Metadata-Flavor": "Google"},   // optional, for every request
//     "requireHeadersStatus": 403,  // optional, status when a required header is missing
//     "paths": {
//       "/exact/path?with=query": "body",
//       "/other": {"status": 500, "body": "x", "headers": {"k": "v"}, "delayMs": 100}
//     }
//   }
// Behaviour:
//   - a required header missing or different          -> requireHeadersStatus (403)
//   - PUT /latest/api/token: ec2Token unset             -> 404
//       without X-aws-ec2-metadata-token-ttl-seconds    -> 400
//       otherwise                                       -> 200, body = ec2Token
//   - any other PUT / method other than GET or HEAD     -> 404
//   - GET with ec2Token set and no/wrong X-aws-ec2-metadata-token -> 401
//       (with ec2TokenOptional: only a wrong one; a GET without the header is answered)
//   - GET of an exact key of "paths" (path + query)     -> 200 (or the entry's status) + body
//   - anything else                                      -> 404
// Every request is appended to the --log file as one JSON line
//   {"method","url","headers","remoteAddress","status","time","inFlight"}
// before the response is sent; inFlight counts the requests received and not yet answered,
// this one included (what a client's concurrency bound is checked against).  SIGTERM/SIGINT exit at once (status 0).

import http from 'node:http';
import fs from 'node:fs';

function usage(msg) {
  process.stderr.write(`imds-server: ${msg}\nusage: imds-server.mjs --config FILE [--log FILE] [--listen HOST:PORT]\n`);
  process.exit(2);
}

const opts = { config: undefined, log: undefined, listen: '169.254.169.254:80' };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--(config|log|listen)(?:=(.*))?$/.exec(a);
    if (!m) usage(`unknown argument ${JSON.stringify(a)}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined) usage(`${a} needs a value`);
    opts[m[1]] = v;
  }
}
if (!opts.config) usage('--config is required');
const lm = /^\[?([^\]]*?)\]?:(\d+)$/.exec(opts.listen);
if (!lm) usage(`bad --listen ${JSON.stringify(opts.listen)}`);
const listenHost = lm[1];
const listenPort = Number(lm[2]);

let cfg = { paths: {} };
let cfgStamp = '';
function loadConfig() {
  let st;
  try {
    st = fs.statSync(opts.config);
  } catch (e) {
    if (cfgStamp === '') throw e;
    return cfg; // keep the last good config while a writer replaces the file
  }
  const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
  if (stamp === cfgStamp) return cfg;
  try {
    const parsed = JSON.parse(fs.readFileSync(opts.config, 'utf8'));
    if (parsed === null || typeof parsed !== 'object') throw new Error('config is not an object');
    cfg = { ...parsed, paths: parsed.paths ?? {} };
    cfgStamp = stamp;
  } catch (e) {
    if (cfgStamp === '') throw e;
    process.stderr.write(`imds-server: keeping previous config: ${e.message}\n`);
  }
  return cfg;
}
loadConfig(); // fail early on a bad config

const logFd = opts.log ? fs.openSync(opts.log, 'a') : undefined;

let inFlight = 0;

function logRequest(req, status) {
  if (logFd === undefined) return;
  const rec = {
    method: req.method,
    url: req.url,
    headers: req.headers,
    remoteAddress: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
    status,
    time: new Date().toISOString(),
    inFlight,
  };
  fs.writeSync(logFd, JSON.stringify(rec) + '\n');
}

function decide(req) {
  const c = loadConfig();
  const h = req.headers;
  const url = req.url ?? '/';
  for (const [name, value] of Object.entries(c.requireHeaders ?? {})) {
    if (h[name.toLowerCase()] !== String(value)) {
      return { status: c.requireHeadersStatus ?? 403, body: 'missing or wrong required header\n' };
    }
  }
  const hasToken = typeof c.ec2Token === 'string';
  if (req.method === 'PUT' && url === '/latest/api/token') {
    if (!hasToken) return { status: 404, body: 'Not Found\n' };
    if (h['x-aws-ec2-metadata-token-ttl-seconds'] === undefined) {
      return { status: 400, body: 'Bad Request\n' };
    }
    return {
      status: 200,
      body: c.ec2Token,
      headers: { 'X-Aws-Ec2-Metadata-Token-Ttl-Seconds': h['x-aws-ec2-metadata-token-ttl-seconds'] },
    };
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return { status: 404, body: 'Not Found\n' };
  const tokenHeader = h['x-aws-ec2-metadata-token'];
  if (hasToken && tokenHeader !== c.ec2Token && !(c.ec2TokenOptional === true && tokenHeader === undefined)) {
    return { status: 401, body: 'Unauthorized\n' };
  }
  if (!Object.prototype.hasOwnProperty.call(c.paths, url)) return { status: 404, body: 'Not Found\n' };
  const entry = c.paths[url];
  if (typeof entry === 'string') return { status: 200, body: entry };
  if (entry === null || typeof entry !== 'object') return { status: 200, body: String(entry) };
  return {
    status: entry.status ?? 200,
    body: entry.body ?? '',
    headers: entry.headers,
    delayMs: entry.delayMs,
  };
}

const server = http.createServer((req, res) => {
  inFlight++;
  res.on('close', () => inFlight--);
  // drain any request body (an EC2 token PUT normally has none)
  req.resume();
  req.on('end', () => {
    let r;
    try {
      r = decide(req);
    } catch (e) {
      r = { status: 500, body: `imds-server error: ${e.message}\n` };
    }
    logRequest(req, r.status);
    const send = () => {
      const body = Buffer.from(r.body, 'utf8');
      res.writeHead(r.status, {
        'Content-Type': 'text/plain',
        'Content-Length': body.length,
        ...(r.headers ?? {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (r.delayMs) setTimeout(send, r.delayMs);
    else send();
  });
});

server.on('error', (e) => {
  process.stderr.write(`imds-server: ${e.message}\n`);
  process.exit(1);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    if (logFd !== undefined) fs.closeSync(logFd);
    process.exit(0);
  });
}

server.listen({ host: listenHost, port: listenPort }, () => {
  const addr = server.address();
  process.stdout.write(JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : listenPort }) + '\n');
});

// SPDX-License-Identifier: LGPL-2.1-or-later
// Build-time stand-in for node:https in got (see scripts/build.mjs): got only calls
// https.request, for https: URLs, which no metadata server of ours uses. Loading node:https (and
// node:tls) costs about 5 ms of CPU per run under --jitless, because node's own code cache does not
// apply under non-default V8 flags; the real module is loaded on the first call.
module.exports = {
  get request() {
    return require('node:https').request;
  },
};

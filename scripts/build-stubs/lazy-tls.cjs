// SPDX-License-Identifier: LGPL-2.1-or-later
// Build-time stand-in for node:tls in got (see scripts/build.mjs and lazy-https.cjs): got only
// passes checkServerIdentity on, for https: requests; the real module is loaded on the first call.
module.exports = {
  checkServerIdentity: (...args) => require('node:tls').checkServerIdentity(...args),
};

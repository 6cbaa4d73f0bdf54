// SPDX-License-Identifier: LGPL-2.1-or-later
// Build-time stand-in for decompress-response in got (see scripts/build.mjs). got calls it only
// with its `decompress` option on, which src/http.ts turns off (curl decodes nothing either); the
// real module evaluates node:zlib when it is loaded, which costs peak RSS and CPU on every run
// under the unit's flags (docs/performance.md). It is loaded on the first call.
module.exports = function decompressResponse(response) {
  return require('decompress-response').default(response);
};

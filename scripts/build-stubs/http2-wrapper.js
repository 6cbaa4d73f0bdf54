// SPDX-License-Identifier: LGPL-2.1-or-later
// Build-time stand-in for got's HTTP/2 support (see scripts/build.mjs). got reaches it only for
// https:// URLs with `http2: true`, which nm-cloud-setup never sets: metadata is plain HTTP.
const unsupported = () => {
  throw new Error('nm-cloud-setup is built without HTTP/2 support');
};
export default {
  get auto() {
    return unsupported();
  },
  get globalAgent() {
    return unsupported();
  },
};

// SPDX-License-Identifier: LGPL-2.1-or-later
// Build-time stand-in for got's HTTP cache (see scripts/build.mjs). got reaches it only with the
// `cache` option, which nm-cloud-setup never sets: metadata must never come from a cache.
export class CacheError extends Error {}
export default class CacheableRequest {
  constructor() {
    throw new Error('nm-cloud-setup is built without the HTTP cache');
  }
}

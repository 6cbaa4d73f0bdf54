// SPDX-License-Identifier: LGPL-2.1-or-later
// Build-time stand-in for node:assert in dbus-next (see scripts/build.mjs). dbus-next checks two
// invariants with it each time it writes a variant, which every message header holds: assert(x) and
// assert.strictEqual(a, b, message). Loading node:assert (with its error and colour modules)
// costs peak RSS and CPU on every run under the unit's flags (docs/performance.md); the real
// module is loaded only when a check fails, and then throws its own AssertionError.
const load = () => require('node:assert');

module.exports = function ok(value, message) {
  if (!value) load()(value, message);
};
module.exports.strictEqual = function strictEqual(actual, expected, message) {
  if (!Object.is(actual, expected)) load().strictEqual(actual, expected, message);
};

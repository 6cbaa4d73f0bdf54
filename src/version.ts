// SPDX-License-Identifier: LGPL-2.1-or-later

/** The tool's version, kept in step with package.json (a test checks). */
export const VERSION = '0.1.0';

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Imported first by main.ts, so it runs before any other module of the bundle is evaluated. */
import { catchSigtermEarly } from './sigterm.js';

catchSigtermEarly();

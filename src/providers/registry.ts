// SPDX-License-Identifier: LGPL-2.1-or-later
import { ec2 } from './ec2.js';
import type { Provider } from './provider.js';

/** Every supported cloud, in upstream's detection order; the one place to add a provider. */
export const PROVIDERS: readonly Provider[] = [ec2];

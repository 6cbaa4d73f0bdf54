// SPDX-License-Identifier: LGPL-2.1-or-later
import { aliyun } from './aliyun.js';
import { azure } from './azure.js';
import { ec2 } from './ec2.js';
import { gcp } from './gcp.js';
import { oci } from './oci.js';
import { openstack } from './openstack.js';
import type { Provider } from './types.js';

/** Every supported cloud, in upstream's detection order; the one place to add a provider. */
export const PROVIDERS: readonly Provider[] = [ec2, gcp, azure, aliyun, oci, openstack];

// SPDX-License-Identifier: LGPL-2.1-or-later
// One boot of the shipped units under systemd as PID 1 (container.ts) on an EC2-like world: the
// realnm harness's namespaces and veths without its NetworkManager (the container brings its
// own), and the metadata server at 169.254.169.254 in the cloud namespace.
import { afterAll, beforeAll } from 'vitest';
import {
  assertRealnmPrerequisites,
  formatRoute,
  formatRule,
  realnmUp,
  type IpLink,
  type IpRoute,
  type IpRule,
  type RealNm,
} from '../harness/realnm.js';
import { EC2_TWO_NICS, MAP_INTERFACES } from '../helpers/realnm-run.js';
import { assertNspawnPrerequisites, boot, buildImage, readJson, type Boot, type Image, type ImageOptions } from './container.js';

/** eth0 gets 172.16.4.10 and .11 as secondaries, eth1 gets 172.16.5.10. */
export const EC2_METADATA = EC2_TWO_NICS;

/** The admin's drop-in: EC2 on, INFO logs; veths have no permanent MAC, so they are mapped by name. */
export const EC2_DROP_IN = `[Service]
Environment=NM_CLOUD_SETUP_EC2=yes
Environment=NM_CLOUD_SETUP_LOG=INFO
Environment="NM_CLOUD_SETUP_MAP_INTERFACES=${MAP_INTERFACES}"
`;

/** A booted container; throws if beforeAll did not get there. */
export interface BootedScenario {
  readonly boot: Boot;
  readonly image: Image;
}

/**
 * Registers beforeAll (prerequisites, namespaces, metadata server, image, boot) and afterAll
 * (teardown). name: the realnm name and the machine name (with NCS_REALNM_PREFIX).
 */
export function useBoot(name: string, image: ImageOptions): BootedScenario {
  let nm: RealNm | undefined;
  let built: Image | undefined;
  let booted: Boot | undefined;
  beforeAll(async () => {
    await assertNspawnPrerequisites();
    await assertRealnmPrerequisites();
    nm = await realnmUp({ name, nics: 2, networkManager: false });
    await nm.startMetadataServer(EC2_METADATA);
    built = await buildImage(image);
    booted = await boot(`${process.env['NCS_REALNM_PREFIX'] ?? ''}${name}`, built, nm);
  }, 240_000);
  afterAll(async () => {
    await nm?.down();
    // NCS_PID1_KEEP=1 keeps the image and the probe's files (out/) for a look after the run.
    if (process.env['NCS_PID1_KEEP'] === '1') {
      console.log(`kept ${built?.tree.destdir ?? '(no image)'}; nspawn ran ${Math.round(booted?.durationMs ?? 0)} ms`);
    } else built?.tree.remove();
  });
  return {
    get boot(): Boot {
      if (!booted) throw new Error('the container did not boot (see the beforeAll error)');
      return booted;
    },
    get image(): Image {
      if (!built) throw new Error('the image was not built (see the beforeAll error)');
      return built;
    },
  };
}

/** The IPv4 state probe.sh recorded under this prefix, in realnm's summary formats. */
export function kernelState(
  b: Boot,
  prefix: string,
): { addrs: Record<string, string[]>; rules: string[]; tables: Record<number, string[]> } {
  const addrs: Record<string, string[]> = {};
  for (const link of readJson<IpLink[]>(b, `${prefix}-addr.json`)) {
    addrs[link.ifname] = (link.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`).sort();
  }
  const rules = readJson<IpRule[]>(b, `${prefix}-rules.json`)
    .filter((r) => ![0, 32766, 32767].includes(r.priority))
    .map(formatRule)
    .sort();
  const tables: Record<number, string[]> = {};
  for (const t of [30200, 30201, 30400, 30401]) tables[t] = readJson<IpRoute[]>(b, `${prefix}-table-${t}.json`).map(formatRoute);
  return { addrs, rules, tables };
}

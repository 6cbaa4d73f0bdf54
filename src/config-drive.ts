// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * OpenStack's config drive as a metadata transport: requests for /openstack/... are answered
 * from the files under the directory where the admin mounted the drive, every other request
 * goes to HTTP. The provider does not know the difference, so detection and parsing are the
 * same code. One of the three modules allowed to touch the file system (docs/architecture.md).
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudSetupError, errorMessage, MetadataError } from './errors.js';
import type { HttpRequest, HttpResponse, MetadataHttp } from './http.js';

/** A config-drive file could not be read (missing, unreadable, or over the body cap). */
export class ConfigDriveError extends MetadataError {
  override name = 'ConfigDriveError';
  override readonly code = 'ERR_CONFIG_DRIVE';
}

/** The part of a URL's path the drive serves; anything else is not the drive's. */
const SERVED = /^\/openstack\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\.json$/;

/** `http` with /openstack/<version>/<file>.json answered from `dir`. */
export function withConfigDrive(dir: string, http: MetadataHttp): MetadataHttp {
  const served = (request: HttpRequest): string | undefined => {
    const path = URL.canParse(request.url) ? new URL(request.url).pathname : '';
    return SERVED.test(path) && !path.includes('..') ? join(dir, path) : undefined;
  };
  return {
    request: (request) => {
      const file = served(request);
      return file === undefined ? http.request(request) : readDriveFile(file, request.maxBytes);
    },
    // A file on a mounted drive does not appear later: one read, no polling.
    poll: (request, options) => {
      const file = served(request);
      return file === undefined ? http.poll(request, options) : readDriveFile(file, request.maxBytes);
    },
    preconnect: (url, count) => http.preconnect(url, count),
    close: () => http.close(),
  };
}

/** Reads at most `maxBytes` (the HTTP body cap); a larger file is refused, like a larger body. */
async function readDriveFile(path: string, maxBytes: number): Promise<HttpResponse> {
  let handle;
  try {
    handle = await open(path, 'r');
    const buffer = Buffer.alloc(maxBytes + 1);
    const { bytesRead } = await handle.read(buffer, 0, maxBytes + 1, 0);
    if (bytesRead > maxBytes) throw new ConfigDriveError(`config drive: ${path} is larger than ${maxBytes} bytes`);
    return { status: 200, body: buffer.subarray(0, bytesRead) };
  } catch (error) {
    if (error instanceof CloudSetupError) throw error;
    throw new ConfigDriveError(`config drive: cannot read ${path}: ${errorMessage(error)}`, { cause: error });
  } finally {
    await handle?.close();
  }
}

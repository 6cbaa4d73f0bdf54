// SPDX-License-Identifier: LGPL-2.1-or-later
/* Writes state.json: the only file the tool ever writes, and only below its runtime directory. */
import { closeSync, constants, fchmodSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CloudSetupError, errorMessage } from './errors.js';
import { STATE_FILE_NAME, type StateDocument } from './state.js';

/** state.json could not be written; the run's result stands. */
export class StateFileError extends CloudSetupError {
  override name = 'StateFileError';
  override readonly code = 'ERR_STATE_FILE';
}

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } = constants;

/**
 * 8 bytes from the kernel's random pool, as hex. node:crypto's randomBytes reads the same pool,
 * but loading node:crypto costs about 0.7 MiB of RSS (docs/performance.md); it is only the
 * fallback where /dev/urandom cannot be read (the unit's PrivateDevices= keeps it).
 */
function randomHex(): string {
  try {
    const fd = openSync('/dev/urandom', O_RDONLY);
    try {
      const bytes = Buffer.alloc(8);
      if (readSync(fd, bytes) === bytes.length) return bytes.toString('hex');
    } finally {
      closeSync(fd);
    }
  } catch {
    // below
  }
  return randomBytes(8).toString('hex');
}

/**
 * Replaces `<dir>/state.json` atomically and returns its path; throws StateFileError: a reader (or a crash) sees the old file or the new
 * one, never half of one. Mode 0644 whatever the umask: the file holds nothing secret and
 * monitoring agents run unprivileged. The tool runs as root, so it refuses a directory that
 * someone else could plant links in, and never follows a link it did not make.
 */
export function writeStateFile(dir: string, document: StateDocument): string {
  // Synchronous calls: this is the run's last work, with nothing to overlap, and node:fs's
  // callbacks would start libuv's thread pool for it (about 1.5 ms of an 8-NIC rerun's wall time).
  // node:fs/promises would also load readline and the fs watchers (0.5 MiB, docs/performance.md).
  const path = join(dir, STATE_FILE_NAME);
  // Unpredictable, and created exclusively without following links: nothing planted in
  // advance can redirect the write.
  const temporary = join(dir, `.${STATE_FILE_NAME}.${randomHex()}.tmp`);
  let created = false;
  try {
    checkStateDir(dir);
    const fd = openSync(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    created = true;
    try {
      fchmodSync(fd, 0o644);
      // No fsync: /run is a tmpfs, gone at reboot anyway; the rename is what readers rely on.
      writeFileSync(fd, `${JSON.stringify(document, null, 2)}\n`);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
    return path;
  } catch (error) {
    if (created) rmSync(temporary, { force: true });
    if (error instanceof StateFileError) throw error;
    throw new StateFileError(`cannot write ${path}: ${errorMessage(error)}`, { cause: error });
  }
}

/** Creates the directory 0755 (whatever the umask) or checks the one that is there. */
function checkStateDir(dir: string): void {
  const made = mkdirSync(dir, { recursive: true, mode: 0o755 });
  let fd: number;
  try {
    fd = openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (error) {
    throw new StateFileError(`cannot write ${join(dir, STATE_FILE_NAME)}: ${dir} is not a directory (${errorMessage(error)})`, {
      cause: error,
    });
  }
  try {
    if (made !== undefined) fchmodSync(fd, 0o755);
    const { mode, uid } = fstatSync(fd);
    const me = process.getuid?.() ?? 0;
    if ((mode & 0o022) !== 0 || (uid !== me && uid !== 0)) {
      const why =
        (mode & 0o022) !== 0 ? `writable by others (mode ${(mode & 0o7777).toString(8).padStart(4, '0')})` : `owned by uid ${uid}`;
      throw new StateFileError(`refusing to write ${join(dir, STATE_FILE_NAME)}: ${dir} is ${why}`);
    }
  } finally {
    closeSync(fd);
  }
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Writes state.json: the only file the tool ever writes, and only below its runtime directory. */
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
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
 * Replaces `<dir>/state.json` atomically: a reader (or a crash) sees the old file or the new
 * one, never half of one. Mode 0644 whatever the umask: the file holds nothing secret and
 * monitoring agents run unprivileged. The tool runs as root, so it refuses a directory that
 * someone else could plant links in, and never follows a link it did not make.
 */
export async function writeStateFile(dir: string, document: StateDocument): Promise<string> {
  const path = join(dir, STATE_FILE_NAME);
  // Unpredictable, and created exclusively without following links: nothing planted in
  // advance can redirect the write.
  const temporary = join(dir, `.${STATE_FILE_NAME}.${randomBytes(8).toString('hex')}.tmp`);
  let created = false;
  try {
    await openStateDir(dir);
    const file = await open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    created = true;
    try {
      await file.chmod(0o644);
      // No fsync: /run is a tmpfs, gone at reboot anyway; the rename is what readers rely on.
      await file.writeFile(`${JSON.stringify(document, null, 2)}\n`);
    } finally {
      await file.close();
    }
    await rename(temporary, path);
    return path;
  } catch (error) {
    if (created) await rm(temporary, { force: true }).catch(() => {});
    if (error instanceof StateFileError) throw error;
    throw new StateFileError(`cannot write ${path}: ${errorMessage(error)}`, { cause: error });
  }
}

/** Creates the directory 0755 (whatever the umask) or checks the one that is there. */
async function openStateDir(dir: string): Promise<void> {
  const made = await mkdir(dir, { recursive: true, mode: 0o755 });
  let handle: FileHandle;
  try {
    handle = await open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (error) {
    throw new StateFileError(`cannot write ${join(dir, STATE_FILE_NAME)}: ${dir} is not a directory (${errorMessage(error)})`, {
      cause: error,
    });
  }
  try {
    if (made !== undefined) await handle.chmod(0o755);
    const { mode, uid } = await handle.stat();
    const me = process.getuid?.() ?? 0;
    if ((mode & 0o022) !== 0 || (uid !== me && uid !== 0)) {
      const why =
        (mode & 0o022) !== 0 ? `writable by others (mode ${(mode & 0o7777).toString(8).padStart(4, '0')})` : `owned by uid ${uid}`;
      throw new StateFileError(`refusing to write ${join(dir, STATE_FILE_NAME)}: ${dir} is ${why}`);
    }
  } finally {
    await handle.close();
  }
}

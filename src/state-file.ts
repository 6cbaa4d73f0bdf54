// SPDX-License-Identifier: LGPL-2.1-or-later
/* Writes state.json: the only file the tool ever writes, and only below its runtime directory. */
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudSetupError, errorMessage } from './errors.js';
import { STATE_FILE_NAME, type StateDocument } from './state.js';

/** state.json could not be written; the run's result stands. */
export class StateFileError extends CloudSetupError {
  override name = 'StateFileError';
  override readonly code = 'ERR_STATE_FILE';
}

/**
 * Replaces `<dir>/state.json` atomically: a reader (or a crash) sees the old file or the new
 * one, never half of one. Mode 0644 whatever the umask: the file holds nothing secret and
 * monitoring agents run unprivileged.
 */
export async function writeStateFile(dir: string, document: StateDocument): Promise<string> {
  const path = join(dir, STATE_FILE_NAME);
  const temporary = join(dir, `.${STATE_FILE_NAME}.${process.pid}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    // No fsync: /run is a tmpfs, gone at reboot anyway; the rename is what readers rely on.
    await writeFile(temporary, `${JSON.stringify(document, null, 2)}\n`, { mode: 0o644 });
    await chmod(temporary, 0o644);
    await rename(temporary, path);
    return path;
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => {});
    throw new StateFileError(`cannot write ${path}: ${errorMessage(error)}`, { cause: error });
  }
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SIGTERM from the bundle's first statement to its last: node's default action kills the
 * process with status 143, and the run's own handler exists only once main() is under way.
 * Upstream installs its handler before anything else and always exits 0; so do we, for all
 * but node's own start-up (before any JavaScript runs, nothing can catch the signal).
 */

let early: { received: number; listener: () => void } | undefined;

/** Catches SIGTERM until the run takes over (main.ts calls this first of all, via catch-sigterm.ts). */
export function catchSigtermEarly(): void {
  if (early !== undefined) return;
  const state = {
    received: 0,
    listener: (): void => {
      state.received++;
    },
  };
  early = state;
  process.on('SIGTERM', state.listener);
}

/**
 * Hands SIGTERM to `handler`, replaying signals that arrived before; returns its remover.
 * Once removed, later signals are ignored again (the run is over; its status stands), not
 * fatal, when the early catcher was installed.
 */
export function takeOverSigterm(handler: () => void): () => void {
  const state = early;
  // Add before removing: with no listener left for a moment node stops watching the signal,
  // and one already on its way would be lost.
  process.on('SIGTERM', handler);
  if (state !== undefined) process.off('SIGTERM', state.listener);
  for (; state !== undefined && state.received > 0; state.received--) handler();
  return () => {
    if (state !== undefined) process.on('SIGTERM', state.listener);
    process.off('SIGTERM', handler);
  };
}

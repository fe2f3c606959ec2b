/**
 * The names of the lock strategies and the shortest lease, apart from the
 * engines so that resolving configuration loads no database client.
 */

/** `session`: an advisory lock; `table`: a leased row beside the ledger (lib/db/table_lock.ts). */
export const LOCK_STRATEGIES = ["session", "table"] as const;
export type LockStrategy = typeof LOCK_STRATEGIES[number];

/** The shortest lease: renewal runs three times per lease, over a network. */
export const MIN_LEASE_MS = 1_000;

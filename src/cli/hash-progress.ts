import { HashPool } from '../io/hash-pool.js';
import { startSpinner, type Terminal } from './output.js';

/** Inputs past this size get a progress spinner on a terminal. */
const progressThreshold = 256 * 2 ** 20;

/** Runs hashing on a worker pool (all cores) with a spinner for big inputs, and always closes the pool. */
export async function withHashPool<T>(
  terminal: Terminal & { forceProgress?: boolean },
  jobs: readonly { size: number }[],
  work: (pool: HashPool, progress: (bytes: number) => void) => Promise<T>,
): Promise<T> {
  const pool = new HashPool();
  const total = jobs.reduce((sum, job) => sum + job.size, 0);
  const spinner =
    total > progressThreshold ? await startSpinner(terminal, 'hashing', terminal.forceProgress) : undefined;
  // Bytes hashed so far, over all jobs.
  const progress = (done: number) => {
    if (spinner) spinner.text = `hashing: ${Math.min(100, Math.floor((100 * done) / total))}%`;
  };
  try {
    return await work(pool, progress);
  } finally {
    spinner?.stop();
    await pool.close();
  }
}

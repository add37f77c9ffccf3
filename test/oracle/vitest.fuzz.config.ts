import { defineConfig } from 'vitest/config';

const seconds = Number(process.env.MLSEC_FUZZ_SECONDS ?? 60);

/** `npm run fuzz`: the differential fuzzer, for as long as MLSEC_FUZZ_SECONDS says. */
export default defineConfig({
  test: {
    include: ['test/oracle/fuzz.run.ts'],
    testTimeout: (seconds + 300) * 1000,
  },
});

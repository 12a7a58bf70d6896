/**
 * Preloaded (`node --expose-gc -r dist/test/soak/gc-preload.js …/main.js`) into the soak test's server
 * process only: SIGUSR2 runs a full garbage collection, so the test can read the server's RSS after a GC
 * from outside without the server carrying any test hook of its own.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (typeof gc !== 'function') throw new Error('gc-preload needs node --expose-gc');
process.on('SIGUSR2', () => {
  gc();
  gc(); // a second pass collects what the first one's finalizers released
});
export {};

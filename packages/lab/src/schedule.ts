/**
 * The request schedule: when each request of a scenario is sent. Every client gets the same one.
 * @module
 */

/**
 * Send times (ms from the start) of an open-loop Poisson arrival process at `rate` requests per
 * second over `durationMs`: the gaps are random, as with real traffic, which matters for keep-alive
 * races. Seeded, so every client and every run with the same settings gets the same schedule.
 *
 * @param rate - mean requests per second
 * @param durationMs - length of the schedule
 * @param seed - any string; the same seed gives the same schedule
 */
export function poissonSchedule(rate: number, durationMs: number, seed: string): number[] {
  const random = mulberry32(hash(seed));
  const meanGap = 1000 / rate;
  const times: number[] = [];
  // Start half a gap in so the first request does not coincide with scenario setup.
  let t = meanGap / 2;
  while (t < durationMs) {
    times.push(Math.round(t * 10) / 10);
    t += -Math.log(1 - random()) * meanGap;
  }
  return times;
}

/** FNV-1a, 32 bits. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A small seeded PRNG returning numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

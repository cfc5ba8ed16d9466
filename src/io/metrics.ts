/**
 * Reconstruction quality.
 * @module
 */

/** PSNR in dB of images with values in [-1, 1] (peak-to-peak 2). Infinity when identical. */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new Error(`PSNR of arrays of ${a.length} and ${b.length} values`);
  }
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  const mse = se / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10(4 / mse);
}

/**
 * What dist/cosmos-webgpu.js holds: everything mod.ts exports, and for pages the pixel helpers
 * (ImageData and VideoFrame to tensors and back), the hub fetch into the Cache API, and the
 * quality metrics (PSNR, SSIM), so one file is all a page needs.
 * @module
 */

export * from "../../mod.ts";
export {
  type DrawableFrame,
  framesToVideoTensor,
  imageDataToTensor,
  type Pixels,
  pixelsToRgb,
  type PixelsToTensorOptions,
  rgbToPixels,
  tensorToImageData,
  videoFrameToImageData,
} from "./pixels.ts";
export {
  BROWSER_CACHE_NAME,
  type BrowserHubOptions,
  browserRepoId,
  fetchCheckpoint,
  type FetchedCheckpoint,
} from "./hub.ts";
export { psnr, psnrFromMse, type Quality, QualityMeter, ssim } from "../media/metrics.ts";
export type { Crop, PadMode } from "../media/pad.ts";

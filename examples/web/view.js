// Pictures of what the tokenizer made: latent channels tiled in a grid, token indices as
// colours, and the per-pixel error between input and reconstruction as a heat map.

/** Draws RGBA pixels on a canvas, sizing the canvas to them. */
export function drawPixels(canvas, pixels) {
  canvas.width = pixels.width;
  canvas.height = pixels.height;
  const data = new Uint8ClampedArray(pixels.data);
  canvas.getContext("2d").putImageData(new ImageData(data, pixels.width, pixels.height), 0, 0);
}

/** The first latent frame's [C, h, w] view of a [1, C, h, w] or [1, C, t, h, w] tensor. */
function firstFrame(shape, channelsFirst) {
  const [h, w] = shape.slice(-2);
  const c = channelsFirst ? shape[1] : 1;
  const t = shape.length === (channelsFirst ? 5 : 4) ? shape[channelsFirst ? 2 : 1] : 1;
  return { c, t, h, w };
}

/** A continuous latent: each channel min-max scaled to grey, channels tiled row by row. */
export function latentPixels(tensor) {
  const { c, t, h, w } = firstFrame(tensor.shape, true);
  const cols = Math.ceil(Math.sqrt(c)), rows = Math.ceil(c / cols);
  const W = cols * (w + 1) - 1, H = rows * (h + 1) - 1;
  const data = new Uint8ClampedArray(W * H * 4).fill(40);
  for (let ch = 0; ch < c; ch++) {
    const base = ch * t * h * w; // frame 0 of channel ch
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < h * w; i++) {
      lo = Math.min(lo, tensor.data[base + i]);
      hi = Math.max(hi, tensor.data[base + i]);
    }
    const ox = (ch % cols) * (w + 1), oy = Math.floor(ch / cols) * (h + 1);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = hi > lo ? (tensor.data[base + y * w + x] - lo) / (hi - lo) * 255 : 128;
        const o = ((oy + y) * W + ox + x) * 4;
        data[o] = data[o + 1] = data[o + 2] = v;
        data[o + 3] = 255;
      }
    }
  }
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  return { width: W, height: H, data };
}

/** Discrete tokens [1, h, w] or [1, t, h, w]: each index a colour (neighbours far apart). */
export function indexPixels(tensor) {
  const { h, w } = firstFrame(tensor.shape, false);
  const data = new Uint8ClampedArray(h * w * 4);
  for (let i = 0; i < h * w; i++) {
    const hue = (tensor.data[i] * 0.618034) % 1;
    const [r, g, b] = hsl(hue, 0.65, 0.55);
    data.set([r, g, b, 255], i * 4);
  }
  return { width: w, height: h, data };
}

function hsl(h, s, l) {
  const f = (n) => {
    const k = (n + h * 12) % 12;
    return 255 * (l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1)));
  };
  return [f(0), f(8), f(4)];
}

/** Mean absolute RGB error per pixel, 0 black through red and yellow to white at `full`. */
export function errorPixels(a, b, full = 48) {
  const n = a.width * a.height;
  const data = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    const o = i * 4;
    const e = (Math.abs(a.data[o] - b.data[o]) + Math.abs(a.data[o + 1] - b.data[o + 1]) +
      Math.abs(a.data[o + 2] - b.data[o + 2])) / 3;
    const v = Math.min(1, e / full) * 3;
    data[o] = Math.min(1, v) * 255;
    data[o + 1] = Math.min(1, Math.max(0, v - 1)) * 255;
    data[o + 2] = Math.max(0, v - 2) * 255;
    data[o + 3] = 255;
  }
  return { width: a.width, height: a.height, data };
}

/** A test picture: gradients, discs and stripes, so every model has something to show. */
export function samplePixels(width = 128, height = 96) {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      const disc = (x - 40) ** 2 + (y - 44) ** 2 < 500;
      const stripe = x > 80 && Math.floor(y / 6) % 2 === 0;
      data[o] = disc ? 240 : (x / width) * 255;
      data[o + 1] = stripe ? 30 : (y / height) * 255;
      data[o + 2] = disc ? 60 : 160 + 60 * Math.sin(x / 9);
      data[o + 3] = 255;
    }
  }
  return { width, height, data };
}

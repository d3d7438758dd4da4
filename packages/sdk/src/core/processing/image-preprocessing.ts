import type { TensorInfo } from '@ferry/protocol';
import type { Pixels } from '../platform.js';

/**
 * How an image becomes the model's input tensor, as set in the model's metadata
 * (`metadata.preprocessing`). Every field is optional: sizes and layout come from the model's
 * input shape when left out.
 *
 * @example
 * ```json
 * { "type": "image", "resize": "contain", "invert": true, "mean": [0.1307], "std": [0.3081] }
 * ```
 */
export interface ImagePreprocessing {
  type: 'image';
  /** Input to feed. @defaultValue the model's first input */
  input?: string;
  /** Target size in pixels. @defaultValue from the input shape */
  width?: number;
  height?: number;
  /** `NCHW`, `NHWC`, or `flat` (`[N, H·W·C]`). @defaultValue from the input shape */
  layout?: 'NCHW' | 'NHWC' | 'flat';
  /** 1 (gray) or 3 (RGB). @defaultValue from the input shape, else 3 */
  channels?: 1 | 3;
  /** `stretch` to the target size, `contain` (letterbox), or `cover` (centre crop). @defaultValue 'stretch' */
  resize?: 'stretch' | 'contain' | 'cover';
  /** Gray level (0–255) behind transparent pixels and letterbox bars. @defaultValue 255 */
  background?: number;
  /** Factor applied to 0–255 values. @defaultValue 1/255 */
  scale?: number;
  /** Replace each scaled value `v` by `1 − v` (white-on-black models such as MNIST). @defaultValue false */
  invert?: boolean;
  /** Subtracted per channel after scaling. @defaultValue [0] */
  mean?: number[];
  /** Divides per channel after the mean. @defaultValue [1] */
  std?: number[];
}

/** A ready input tensor's data. */
export interface PreprocessedImage {
  input: string;
  data: Float32Array;
  dims: number[];
}

interface Geometry {
  width: number;
  height: number;
  channels: 1 | 3;
  layout: 'NCHW' | 'NHWC' | 'flat';
}

const dim = (d: unknown): number | undefined => (typeof d === 'number' && d > 0 ? d : undefined);

/** Target size, channels and layout: explicit settings first, then the input's shape. */
export function imageGeometry(spec: Partial<ImagePreprocessing>, input: TensorInfo | undefined): Geometry {
  const shape = input?.shape ?? [];
  let layout = spec.layout;
  let width = spec.width;
  let height = spec.height;
  let channels = spec.channels;
  if (shape.length === 4) {
    const [, d1, d2, d3] = shape;
    const nhwc = layout === 'NHWC' || (!layout && (dim(d3) === 1 || dim(d3) === 3) && !(dim(d1) === 1 || dim(d1) === 3));
    layout ??= nhwc ? 'NHWC' : 'NCHW';
    channels ??= (dim(nhwc ? d3 : d1) === 1 ? 1 : 3) as 1 | 3;
    height ??= dim(nhwc ? d1 : d2);
    width ??= dim(nhwc ? d2 : d3);
  } else if (shape.length === 2) {
    layout ??= 'flat';
    const features = dim(shape[1]);
    channels ??= 1;
    if (features && !width && !height) {
      const side = Math.round(Math.sqrt(features / channels));
      if (side * side * channels === features) width = height = side;
    }
  }
  if (!width || !height) throw new TypeError('the model metadata does not say which image size the model takes (preprocessing.width/height)');
  return { width, height, channels: channels ?? 3, layout: layout ?? 'NCHW' };
}

/** Gray or RGB values (0–255) of `pixels`, alpha composited over `background`. */
function toChannels(pixels: Pixels, channels: 1 | 3, background: number): Float32Array {
  const src = pixels.data;
  const stride = pixels.channels ?? 4;
  const n = pixels.width * pixels.height;
  const out = new Float32Array(n * channels);
  for (let i = 0; i < n; i++) {
    const o = i * stride;
    let r: number;
    let g: number;
    let b: number;
    if (stride === 1) r = g = b = src[o]!;
    else {
      r = src[o]!;
      g = src[o + 1]!;
      b = src[o + 2]!;
    }
    if (stride === 4) {
      const a = src[o + 3]! / 255;
      r = r * a + background * (1 - a);
      g = g * a + background * (1 - a);
      b = b * a + background * (1 - a);
    }
    if (channels === 1) out[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    else {
      out[i * 3] = r;
      out[i * 3 + 1] = g;
      out[i * 3 + 2] = b;
    }
  }
  return out;
}

/**
 * Resamples the source rectangle of an interleaved image into a `dw`×`dh` one: area averaging
 * when shrinking (no aliasing), bilinear when enlarging.
 */
function resample(src: Float32Array, sw: number, sh: number, c: number, rect: { x: number; y: number; w: number; h: number }, dw: number, dh: number): Float32Array {
  const out = new Float32Array(dw * dh * c);
  const fx = rect.w / dw;
  const fy = rect.h / dh;
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      for (let ch = 0; ch < c; ch++) {
        let value: number;
        if (fx > 1 || fy > 1) {
          const x0 = rect.x + x * fx;
          const y0 = rect.y + y * fy;
          const x1 = x0 + fx;
          const y1 = y0 + fy;
          let sum = 0;
          let weight = 0;
          for (let yy = Math.floor(y0); yy < Math.ceil(y1); yy++) {
            const wy = Math.min(yy + 1, y1) - Math.max(yy, y0);
            const sy = Math.min(sh - 1, Math.max(0, yy));
            for (let xx = Math.floor(x0); xx < Math.ceil(x1); xx++) {
              const wx = Math.min(xx + 1, x1) - Math.max(xx, x0);
              const sx = Math.min(sw - 1, Math.max(0, xx));
              sum += src[(sy * sw + sx) * c + ch]! * wx * wy;
              weight += wx * wy;
            }
          }
          value = weight > 0 ? sum / weight : 0;
        } else {
          const gx = Math.min(sw - 1, Math.max(0, rect.x + (x + 0.5) * fx - 0.5));
          const gy = Math.min(sh - 1, Math.max(0, rect.y + (y + 0.5) * fy - 0.5));
          const ix = Math.floor(gx);
          const iy = Math.floor(gy);
          const ax = gx - ix;
          const ay = gy - iy;
          const at = (px: number, py: number) => src[(Math.min(sh - 1, py) * sw + Math.min(sw - 1, px)) * c + ch]!;
          value = (at(ix, iy) * (1 - ax) + at(ix + 1, iy) * ax) * (1 - ay) + (at(ix, iy + 1) * (1 - ax) + at(ix + 1, iy + 1) * ax) * ay;
        }
        out[(y * dw + x) * c + ch] = value;
      }
    }
  }
  return out;
}

/** Turns pixels into the model's input: resize/crop, channels, scale, invert, normalise, layout. */
export function preprocessImage(pixels: Pixels, spec: Partial<ImagePreprocessing>, input: TensorInfo | undefined): PreprocessedImage {
  const { width, height, channels, layout } = imageGeometry(spec, input);
  const background = spec.background ?? 255;
  const values = toChannels(pixels, channels, background);
  const mode = spec.resize ?? 'stretch';
  let resized: Float32Array;
  if (mode === 'stretch') {
    resized = resample(values, pixels.width, pixels.height, channels, { x: 0, y: 0, w: pixels.width, h: pixels.height }, width, height);
  } else {
    const scale = mode === 'cover' ? Math.max(width / pixels.width, height / pixels.height) : Math.min(width / pixels.width, height / pixels.height);
    if (mode === 'cover') {
      const w = width / scale;
      const h = height / scale;
      resized = resample(values, pixels.width, pixels.height, channels, { x: (pixels.width - w) / 2, y: (pixels.height - h) / 2, w, h }, width, height);
    } else {
      const dw = Math.max(1, Math.round(pixels.width * scale));
      const dh = Math.max(1, Math.round(pixels.height * scale));
      const inner = resample(values, pixels.width, pixels.height, channels, { x: 0, y: 0, w: pixels.width, h: pixels.height }, dw, dh);
      resized = new Float32Array(width * height * channels).fill(background);
      const ox = Math.floor((width - dw) / 2);
      const oy = Math.floor((height - dh) / 2);
      for (let y = 0; y < dh; y++) resized.set(inner.subarray(y * dw * channels, (y + 1) * dw * channels), ((y + oy) * width + ox) * channels);
    }
  }
  const scale = spec.scale ?? 1 / 255;
  const mean = spec.mean ?? [0];
  const std = spec.std ?? [1];
  const plane = width * height;
  const data = new Float32Array(plane * channels);
  for (let i = 0; i < plane; i++) {
    for (let ch = 0; ch < channels; ch++) {
      let v = resized[i * channels + ch]! * scale;
      if (spec.invert) v = 1 - v;
      v = (v - (mean[ch] ?? mean[0] ?? 0)) / (std[ch] ?? std[0] ?? 1);
      data[layout === 'NCHW' ? ch * plane + i : i * channels + ch] = v;
    }
  }
  const dims = layout === 'flat' ? [1, plane * channels] : layout === 'NCHW' ? [1, channels, height, width] : [1, height, width, channels];
  return { input: spec.input ?? input?.name ?? 'input', data, dims };
}

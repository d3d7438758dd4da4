import { describe, expect, it } from 'vitest';
import { softmax, topK } from './classification.js';
import { imageGeometry, preprocessImage } from './image-preprocessing.js';

const rgba = (w: number, h: number, fill: (x: number, y: number) => [number, number, number, number]) => {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(fill(x, y), (y * w + x) * 4);
  return { data, width: w, height: h };
};

describe('image geometry', () => {
  it('reads size, channels and layout from the input shape', () => {
    expect(imageGeometry({}, { name: 'x', type: 'float32', shape: ['N', 1, 28, 28] })).toEqual({ width: 28, height: 28, channels: 1, layout: 'NCHW' });
    expect(imageGeometry({}, { name: 'x', type: 'float32', shape: [1, 224, 224, 3] })).toEqual({ width: 224, height: 224, channels: 3, layout: 'NHWC' });
    expect(imageGeometry({}, { name: 'x', type: 'float32', shape: ['N', 784] })).toEqual({ width: 28, height: 28, channels: 1, layout: 'flat' });
    expect(imageGeometry({ width: 10, height: 5, channels: 3, layout: 'NHWC' }, undefined)).toEqual({ width: 10, height: 5, channels: 3, layout: 'NHWC' });
    expect(() => imageGeometry({}, { name: 'x', type: 'float32', shape: ['N', 'C', 'H', 'W'] })).toThrow(/image size/);
  });
});

describe('preprocessImage', () => {
  it('scales, normalises and lays out RGB as NCHW or NHWC', () => {
    const img = rgba(2, 2, () => [255, 0, 51, 255]);
    const nchw = preprocessImage(img, { mean: [0.5], std: [0.5] }, { name: 'x', type: 'float32', shape: [1, 3, 2, 2] });
    expect(nchw.dims).toEqual([1, 3, 2, 2]);
    expect(Array.from(nchw.data).map((v) => +v.toFixed(3))).toEqual([1, 1, 1, 1, -1, -1, -1, -1, -0.6, -0.6, -0.6, -0.6]);
    const nhwc = preprocessImage(img, {}, { name: 'x', type: 'float32', shape: [1, 2, 2, 3] });
    expect(nhwc.dims).toEqual([1, 2, 2, 3]);
    expect(Array.from(nhwc.data.slice(0, 3)).map((v) => +v.toFixed(3))).toEqual([1, 0, 0.2]);
  });

  it('composites transparency over the background, converts to gray and inverts (MNIST style)', () => {
    // A transparent canvas with one black stroke pixel.
    const img = rgba(28, 28, (x, y) => (x === 14 && y === 14 ? [0, 0, 0, 255] : [0, 0, 0, 0]));
    const t = preprocessImage(img, { invert: true }, { name: 'input', type: 'float32', shape: ['N', 1, 28, 28] });
    expect(t.input).toBe('input');
    expect(t.data[14 * 28 + 14]).toBeCloseTo(1);
    expect(t.data[0]).toBeCloseTo(0);
  });

  it('shrinks by area averaging, so thin strokes survive', () => {
    const img = rgba(280, 280, (x) => (x >= 140 && x < 150 ? [0, 0, 0, 255] : [255, 255, 255, 255]));
    const t = preprocessImage(img, { invert: true }, { name: 'x', type: 'float32', shape: ['N', 784] });
    expect(t.dims).toEqual([1, 784]);
    expect(t.data[14]).toBeCloseTo(1);
    expect(t.data[13]).toBeCloseTo(0);
  });

  it('letterboxes with contain and centre-crops with cover', () => {
    const wide = rgba(20, 10, (x) => (x < 10 ? [0, 0, 0, 255] : [255, 255, 255, 255]));
    const contain = preprocessImage(wide, { resize: 'contain', channels: 1, background: 128 }, { name: 'x', type: 'float32', shape: [1, 1, 10, 10] });
    expect(contain.data[0]! * 255).toBeCloseTo(128); // bar on top
    expect(contain.data[5 * 10]).toBeCloseTo(0); // left half black
    const cover = preprocessImage(wide, { resize: 'cover', channels: 1 }, { name: 'x', type: 'float32', shape: [1, 1, 10, 10] });
    expect(cover.data[0]).toBeCloseTo(0);
    expect(cover.data[9]).toBeCloseTo(1);
  });
});

describe('classification', () => {
  it('softmax sums to one and survives large logits', () => {
    const p = softmax([1000, 1001, 1002]);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1);
    expect(p[2]).toBeGreaterThan(p[1]!);
  });

  it('topK returns labelled classes best first', () => {
    expect(topK([0.1, 0.7, 0.2], 2, ['cat', 'dog', 'fox'])).toEqual([
      { label: 'dog', index: 1, score: 0.7 },
      { label: 'fox', index: 2, score: 0.2 },
    ]);
    expect(topK([0.1, 0.7], 1)).toEqual([{ label: '1', index: 1, score: 0.7 }]);
  });
});

import { describe, expect, it } from 'vitest';
import { OutputComparison } from './output-comparison.js';

const f32 = (values: number[], dims: number[]) => ({ type: 'float32', data: Float32Array.from(values), dims });

describe('OutputComparison', () => {
  it('reports identical outputs as max error 0, cosine 1 and full top-1 agreement', () => {
    const c = new OutputComparison();
    c.add(f32([1, 2, 3, 4], [2, 2]), f32([1, 2, 3, 4], [2, 2]));
    expect(c.metrics(1)).toEqual({ maxAbsError: 0, cosine: 1, top1Agreement: 1, samples: 1 });
  });

  it('measures the largest difference, the cosine over everything, and arg-max agreement per row', () => {
    const c = new OutputComparison();
    c.add(f32([1, 0, 0, 1], [2, 2]), f32([1, 0, 0.5, 0.4], [2, 2]));
    const m = c.metrics(1);
    expect(m.maxAbsError).toBeCloseTo(0.6, 6);
    expect(m.top1Agreement).toBe(0.5);
    expect(m.cosine).toBeCloseTo((1 + 0.4) / (Math.SQRT2 * Math.sqrt(1 + 0.25 + 0.16)), 6);
  });

  it('has no top-1 agreement for outputs that are not class scores', () => {
    const c = new OutputComparison();
    c.add(f32([1, 2, 3], [3]), f32([1, 2, 3], [3]));
    c.add(f32([1, 2, 3], [3, 1]), f32([1, 2, 3], [3, 1]));
    expect(c.metrics(2).top1Agreement).toBeUndefined();
  });

  it('treats a NaN in one model only, or a shape change, as a total mismatch that stays JSON-safe', () => {
    const nan = new OutputComparison();
    nan.add(f32([1, 2], [2]), f32([1, NaN], [2]));
    expect(nan.metrics(1).maxAbsError).toBe(Number.MAX_VALUE);
    const both = new OutputComparison();
    both.add(f32([1, NaN], [2]), f32([1, NaN], [2]));
    expect(both.metrics(1).maxAbsError).toBe(0);
    const shape = new OutputComparison();
    shape.add(f32([1, 2], [2]), f32([1, 2], [1, 2]));
    expect(shape.metrics(1)).toMatchObject({ maxAbsError: Number.MAX_VALUE, cosine: 0 });
    expect(JSON.parse(JSON.stringify(shape.metrics(1))).maxAbsError).toBe(Number.MAX_VALUE);
  });

  it('compares int64 outputs as numbers', () => {
    const c = new OutputComparison();
    c.add({ type: 'int64', data: BigInt64Array.of(1n, 5n), dims: [2] }, { type: 'int64', data: BigInt64Array.of(1n, 7n), dims: [2] });
    expect(c.metrics(1).maxAbsError).toBe(2);
  });
});

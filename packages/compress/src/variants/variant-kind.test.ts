import { describe, expect, it } from 'vitest';
import { CompressionError } from '../compression-error.js';
import { describeVariantKind, parseVariantKind } from './variant-kind.js';

describe('parseVariantKind', () => {
  it.each(['fp16', 'int8', 'pruned-50', 'pruned-1', 'pruned-99'])('accepts %s', (text) => {
    expect(parseVariantKind(text)).toBe(text);
  });

  const invalid = ['', 'FP16', 'int4', 'pruned', 'pruned-0', 'pruned-100', 'pruned-05', 'pruned-50.5', 'pruned-50 '];
  it.each(invalid)('rejects "%s" with invalid_variant_kind', (text) => {
    expect(() => parseVariantKind(text)).toThrow(expect.objectContaining({ name: 'CompressionError', code: 'invalid_variant_kind' }));
    expect(() => parseVariantKind(text)).toThrow(CompressionError);
  });

  it('describes pruning by its sparsity', () => {
    expect(describeVariantKind('pruned-50')).toEqual({ family: 'pruned', sparsity: 0.5 });
    expect(describeVariantKind('int8')).toEqual({ family: 'int8', sparsity: 0 });
  });
});

import type { AccuracyMetrics, AccuracyTolerance, EvaluationOptions } from '../accuracy/evaluation-types.js';
import type { EncodedBytes, PrecompressOptions } from '../encodings/precompress.js';
import type { VariantKind } from './variant-kind.js';

/** What a device needs to run a variant; matches `VariantRequires` in `@ferry/protocol`. */
export interface VariantRequirements {
  format: 'onnx';
  /** Backends known to run the variant's operators, best first. */
  backends: string[];
  /** Device features the variant needs, such as `shader-f16`; none for these variants. */
  features: string[];
}

/** Settings of {@link buildVariant}; all optional. */
export interface VariantBuildOptions {
  /** The inputs the accuracy gate runs both models on: an evaluation set, or synthesis settings. */
  evaluation?: EvaluationOptions;
  /** This model's tolerance; missing fields take the default of the variant's kind. */
  tolerance?: Partial<AccuracyTolerance>;
  /** Which weights are rewritten. */
  weights?: {
    /**
     * Weights with fewer elements stay float32.
     * @defaultValue 16 for fp16; 1024 for int8 and pruned
     */
    minElements?: number;
    /** int8 only: one scale per output channel rather than per tensor. @defaultValue true */
    perChannel?: boolean;
  };
  /** Compression of the stored encodings. */
  precompress?: PrecompressOptions;
  /**
   * Brotli size of the original, when already known (it is computed otherwise): the variant
   * must be smaller on the wire than this.
   */
  originalBrotliSize?: number;
  /** Called as the build advances, with a fraction from 0 to 1 and the stage's name. */
  onProgress?: (fraction: number, stage: VariantBuildStage) => void;
}

/** Stages reported to {@link VariantBuildOptions.onProgress}. */
export type VariantBuildStage = 'normalize' | 'transform' | 'evaluate' | 'precompress' | 'done';

/** A built variant, published (`ready`) or not (`rejected`, with the reason). */
export interface VariantBuildResult {
  kind: VariantKind;
  /** The variant's `.onnx` bytes. */
  bytes: Uint8Array;
  /** Hex SHA-256 of `bytes`. */
  sha256: string;
  size: number;
  /** Pre-compressed copies for `Accept-Encoding`: brotli, then gzip. */
  encodings: EncodedBytes[];
  /** How close the variant's outputs are to the original's. */
  accuracy: AccuracyMetrics;
  /** The tolerance the accuracy was judged against. */
  tolerance: AccuracyTolerance;
  /** `ready` when the variant meets the tolerance and is smaller on the wire than the original. */
  status: 'ready' | 'rejected';
  /** Why the variant was rejected, in words for the model's owner. */
  reason?: string;
  requires: VariantRequirements;
  /** Wall-clock time of the build, in milliseconds. */
  buildMs: number;
}

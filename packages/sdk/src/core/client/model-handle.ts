import type { IoSignature, ManifestCandidate, ManifestPayload } from '@ferry/protocol';
import type { CandidateFailure } from '../errors.js';
import type { InferenceRuntime, ModelSession, TensorLike } from '../inference/runtime.js';
import type { Pixels } from '../platform.js';
import { softmax, topK, type Classification, type ClassificationPostprocessing } from '../processing/classification.js';
import { preprocessImage, type ImagePreprocessing } from '../processing/image-preprocessing.js';
import type { InferenceContext } from '../telemetry/telemetry-client.js';
import type { ClassifyOptions, FerryModel, ModelUpdate } from './public-types.js';

/** What a handle needs from the client that made it. */
export interface ModelHandleDeps {
  runtime: InferenceRuntime;
  monotonic: () => number;
  toPixels: (image: unknown) => Promise<Pixels>;
  recordInference: (context: InferenceContext, ms: number) => void;
  /** Whether inference latencies are recorded now (telemetry on); when not, runs are not timed. */
  measuresInference: () => boolean;
  release: () => Promise<void>;
}

export interface ModelHandleInit {
  manifest: ManifestPayload;
  candidate: ManifestCandidate;
  session: ModelSession;
  source: 'cache' | 'network';
  stale: boolean;
  failures: readonly CandidateFailure[];
}

/** A plain `{type, data, dims}` object, to be made a runtime tensor (runtime tensors keep their own class). */
function isPlainTensor(v: unknown): v is TensorLike {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as object | null;
  return (proto === Object.prototype || proto === null) && 'data' in v && 'dims' in v && 'type' in v && !('location' in v);
}

/** A loaded model (see {@link FerryModel}). */
export class ModelHandle implements FerryModel {
  readonly name: string;
  readonly version: number;
  readonly release: number;
  readonly variant: string;
  readonly precision: string;
  readonly backend: string;
  readonly sha256: string;
  readonly size: number;
  readonly io: IoSignature | null;
  readonly metadata: ManifestPayload['metadata'];
  readonly rollout: ManifestPayload['rollout'];
  readonly source: 'cache' | 'network';
  readonly stale: boolean;
  readonly failures: readonly CandidateFailure[];
  update: Promise<ModelUpdate> | null = null;
  private readonly session: ModelSession;
  private readonly context: InferenceContext;
  private disposed = false;

  constructor(
    init: ModelHandleInit,
    private readonly deps: ModelHandleDeps,
  ) {
    const { manifest, candidate } = init;
    this.name = manifest.model;
    this.version = manifest.version;
    this.release = manifest.release;
    this.variant = candidate.variant;
    this.precision = candidate.precision;
    this.backend = init.session.backend;
    this.sha256 = candidate.sha256;
    this.size = candidate.size;
    this.io = manifest.io;
    this.metadata = manifest.metadata;
    this.rollout = manifest.rollout;
    this.source = init.source;
    this.stale = init.stale;
    this.failures = init.failures;
    this.session = init.session;
    this.context = { model: this.name, version: this.version, variant: this.variant, backend: this.backend, release: this.release, rollout: this.rollout };
  }

  get labels(): readonly string[] | undefined {
    return this.metadata.labels;
  }

  run(feeds: Record<string, unknown>): Promise<Record<string, TensorLike>> {
    // Not async: the hot path adds no promise of its own to the runtime's.
    try {
      if (this.disposed) throw new Error(`the model "${this.name}" was disposed`);
      let converted = feeds;
      for (const name in feeds) {
        const value = feeds[name];
        if (isPlainTensor(value)) {
          if (converted === feeds) converted = { ...feeds };
          converted[name] = this.deps.runtime.tensor(value.type, value.data, value.dims);
        }
      }
      if (!this.deps.measuresInference()) return this.session.run(converted);
      const { monotonic } = this.deps;
      const started = monotonic();
      return this.session.run(converted).then((outputs) => {
        this.deps.recordInference(this.context, monotonic() - started);
        return outputs;
      });
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  async classify(image: unknown, options: ClassifyOptions = {}): Promise<Classification[]> {
    const pixels = isPixels(image) ? image : await this.deps.toPixels(image);
    const pre = asSpec<ImagePreprocessing>(this.metadata.preprocessing, 'image');
    const post = asSpec<ClassificationPostprocessing>(this.metadata.postprocessing, 'classification');
    const inputName = pre.input ?? this.session.inputNames[0];
    const inputInfo = this.io?.inputs.find((i) => i.name === inputName) ?? this.session.inputInfo?.find((i) => i.name === inputName);
    const tensor = preprocessImage(pixels, { ...pre, ...(inputName ? { input: inputName } : {}) }, inputInfo);
    const outputs = await this.run({ [tensor.input]: { type: 'float32', data: tensor.data, dims: tensor.dims } });
    const outputName = post.output ?? this.session.outputNames[0];
    const output = outputName ? outputs[outputName] : undefined;
    if (!output) throw new Error(`the model has no output "${outputName ?? ''}"`);
    const raw = Array.from(output.data as ArrayLike<number | bigint>, Number);
    const scores = post.softmax === false ? raw : softmax(raw);
    return topK(scores, options.topK ?? post.topK ?? 5, this.labels);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.deps.release();
  }
}

function isPixels(v: unknown): v is Pixels {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Partial<Pixels>;
  return (p.data instanceof Uint8ClampedArray || p.data instanceof Uint8Array) && typeof p.width === 'number' && typeof p.height === 'number';
}

function asSpec<T extends { type: string }>(value: unknown, type: T['type']): Partial<T> {
  if (typeof value !== 'object' || value === null) return {};
  const spec = value as Partial<T>;
  return spec.type === undefined || spec.type === type ? spec : {};
}

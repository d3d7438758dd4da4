import type { ModelProto } from 'onnx-buf';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSession, type ort } from '../accuracy/onnx-runtime.js';
import { brotli } from '../encodings/precompress.js';
import { allGraphs } from '../model-graph/graph-scopes.js';
import { normalizeModel } from '../normalize/normalize-model.js';
import { inspectOnnxFile } from '../onnx/inspect-onnx-file.js';
import { readModel } from '../onnx/model-codec.js';
import { runFeed, sileroEvaluation, sileroVadModels, streamVad, type SileroEvaluation, type SileroVadModel } from '../testing/index.js';
import { buildVariant } from './build-variant.js';
import type { VariantBuildResult } from './variant-build-result.js';
import type { VariantKind } from './variant-kind.js';

/*
 * The Silero voice-activity detectors that `@ricky0123/vad-web` ships: real pretrained models,
 * installed from npm, exported by two different tools. They hold what synthetic test models only
 * imitate: weights in `If` subgraphs (one branch per sample rate), LSTMs, an STFT done as a
 * `Conv` with a fixed basis, and (v5, v6) every weight as a `Constant` node inside the branches,
 * with the LSTM matrices sliced into ONNX gate order before they reach the `LSTM`.
 *
 * The gate runs on seeded speech-like audio cut into the frames vad-web feeds, streamed as
 * vad-web does (each frame gets the recurrent state the original returned for the previous
 * one), at 16 kHz and at 8 kHz so both branches of every variant are exercised.
 */

const models = sileroVadModels();

/** What the gate decides for int8 with the default tolerances (see the int8 test for why). */
const CASES: (SileroVadModel & { legacy: boolean; int8Status: 'ready' | 'rejected' })[] = [
  { ...models.legacy, legacy: true, int8Status: 'rejected' },
  { ...models.v5, legacy: false, int8Status: 'ready' },
  { ...models.v6, legacy: false, int8Status: 'rejected' },
];

const KINDS: VariantKind[] = ['fp16', 'int8', 'pruned-50'];
/** A change in speech probability a user would notice: vad-web's default thresholds are 0.5 / 0.35. */
const NOTICEABLE = 0.05;

const maxAbsDifference = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(b.length).toBe(a.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
};

/** Outputs of the nodes that decode rewritten weights at load (DequantizeLinear, fp16 Cast), in the main graph and in subgraphs. */
function decoders(bytes: Uint8Array): { main: string[]; subgraphs: string[] } {
  const model: ModelProto = readModel(bytes);
  const [main, ...subgraphs] = allGraphs(model);
  const decoding = (g: ModelProto['graph']) =>
    (g?.node ?? [])
      .filter((n) => n.opType === 'DequantizeLinear' || (n.opType === 'Cast' && /_fp16(_\d+)?$/.test(n.input[0] ?? '')))
      .map((n) => n.output[0]!);
  return { main: decoding(main), subgraphs: subgraphs.flatMap((g) => decoding(g)) };
}

interface Measured {
  /** Largest change of the speech probability on the gate's frames (the original's state fed in). */
  fedSpeech: number;
  /** Largest change when the variant streams on its own, carrying its own state. */
  streamedSpeech: number;
  /** Frames where the variant, streaming on its own, decides speech / no speech (at 0.5) otherwise than the original though the original is clearly decided. */
  flippedDecisions: number;
}

describe.each(CASES)('$name from @ricky0123/vad-web', (model) => {
  let original: Uint8Array;
  let evaluation: SileroEvaluation;
  const built = new Map<VariantKind, VariantBuildResult>();
  const measured = new Map<VariantKind, Promise<Measured>>();

  beforeAll(async () => {
    evaluation = await sileroEvaluation(model);
    original = evaluation.bytes;
    for (const kind of KINDS) built.set(kind, await buildVariant(original, kind, { evaluation: { inputs: evaluation.feeds } }));
  }, 120_000);

  /** Runs a variant on its own in onnxruntime-web, at both rates, against the original's speech probabilities. */
  function measure(kind: VariantKind): Promise<Measured> {
    let pending = measured.get(kind);
    if (pending === undefined) {
      pending = (async () => {
        const variant: ort.InferenceSession = await createSession(built.get(kind)!.bytes);
        try {
          const total: Measured = { fedSpeech: 0, streamedSpeech: 0, flippedDecisions: 0 };
          const lines: string[] = [];
          for (const rate of [16000, 8000] as const) {
            const { frames: audioFrames, reference } = evaluation.streams.get(rate)!;
            const own = await streamVad(variant, model, audioFrames, rate);
            expect(own.speech.every((p) => p >= 0 && p <= 1)).toBe(true);
            const fed: number[] = [];
            for (const feed of reference.feeds) fed.push((await runFeed(variant, feed)).output![0]!);
            const fedSpeech = maxAbsDifference(reference.speech, fed);
            const streamedSpeech = maxAbsDifference(reference.speech, own.speech);
            const flipped = reference.speech.filter((p, i) => Math.abs(p - 0.5) >= NOTICEABLE && p >= 0.5 !== own.speech[i]! >= 0.5).length;
            const stateError = Math.max(...own.states.map((s, i) => maxAbsDifference(reference.states[i]!, s)));
            total.fedSpeech = Math.max(total.fedSpeech, fedSpeech);
            total.streamedSpeech = Math.max(total.streamedSpeech, streamedSpeech);
            total.flippedDecisions += flipped;
            lines.push(
              `${rate / 1000} kHz, ${audioFrames.length} frames: speech probability max |Δ| ${fedSpeech.toFixed(4)} on the gate's frames, ` +
                `${streamedSpeech.toFixed(4)} streaming its own state (${flipped} clear decisions flipped); state max |Δ| ${stateError.toFixed(3)}`,
            );
          }
          const result = built.get(kind)!;
          const { accuracy } = result;
          const originalBrotli = (await brotli(original)).length;
          console.info(
            `${model.name} ${kind}: ${result.status}; ${(result.size / 1e6).toFixed(2)} MB = ${(result.size / original.length).toFixed(3)}× raw, ` +
              `${(result.encodings[0]!.size / originalBrotli).toFixed(3)}× brotli; cosine ${accuracy.cosine.toFixed(6)}, ` +
              `max |err| ${accuracy.maxAbsError.toPrecision(3)}, top-1 ${accuracy.top1Agreement === undefined ? '—' : `${(accuracy.top1Agreement * 100).toFixed(2)} %`}, ` +
              `${accuracy.samples} runs, built in ${result.buildMs.toFixed(0)} ms\n  ${lines.join('\n  ')}${result.reason ? `\n  ${result.reason}` : ''}`,
          );
          return total;
        } finally {
          await variant.release();
        }
      })();
      measured.set(kind, pending);
    }
    return pending;
  }

  it('is the model we think it is: inputs, opset, If subgraphs, LSTM and Conv', async () => {
    const inspection = await inspectOnnxFile(model.path);
    expect(inspection.opsets.find((o) => o.domain === '')?.version).toBe(16);
    expect(inspection.externalData).toBe(false);
    const inputs = Object.fromEntries(inspection.io.inputs.map((i) => [i.name, i.type]));
    expect(inputs).toEqual({ input: 'float32', sr: 'int64', ...Object.fromEntries(model.state.map((s) => [s.input, 'float32'])) });
    expect(inspection.io.outputs.map((o) => o.name).sort()).toEqual(['output', ...model.state.map((s) => s.output)].sort());
    for (const op of ['If', 'LSTM', 'Conv']) expect(inspection.operators[op], op).toBeGreaterThan(0);
    console.info(
      `${model.name}: ${(original.length / 1e6).toFixed(2)} MB, ${inspection.parameterCount} parameters, ` +
        `${inspection.operators.If} If, ${inspection.operators.LSTM} LSTM, ${inspection.operators.Conv} Conv, ` +
        `${inspection.operators.Constant ?? 0} Constant nodes; producer ${inspection.producer}`,
    );
  });

  it('holds its weights where the normalisation must find them: in If branches, as Constant nodes for v5 / v6', () => {
    const { report } = normalizeModel(original);
    if (model.legacy) expect(report.constantsMoved).toBe(0);
    else expect(report.constantsMoved).toBeGreaterThanOrEqual(28); // 14 weights and biases per branch, plus small constants
    // The audio is speech-like enough that the original hears both speech and silence in it.
    for (const rate of [16000, 8000] as const) {
      const speech = evaluation.streams.get(rate)!.reference.speech;
      expect(Math.min(...speech), `${rate} Hz`).toBeLessThan(0.3);
      expect(Math.max(...speech), `${rate} Hz`).toBeGreaterThan(0.8);
    }
  });

  it.each(KINDS)('builds %s, which loads and runs in onnxruntime-web on every frame of both sample rates', async (kind) => {
    const result = built.get(kind)!;
    // The gate ran both models on every frame: a variant that failed to load or run would have
    // no metrics and say so in its reason.
    expect(result.accuracy.samples).toBe(evaluation.feeds.length);
    expect(result.reason ?? '').not.toMatch(/does not load|fails on evaluation input|does not produce/);
    expect(result.accuracy.cosine).toBeGreaterThan(0.9);
    expect(result.accuracy.maxAbsError).toBeLessThan(Number.MAX_VALUE);
    // Smaller on the wire than the original (pruned variants only once compressed).
    expect(result.reason ?? '').not.toMatch(/not smaller on the wire/);
    // And it streams on its own at both rates (the measurement runs it; see the log for the numbers).
    await measure(kind);
  });

  it.each(['fp16', 'int8'] as const)('%s keeps the speech probability within 0.05 of the original on every frame', async (kind) => {
    const { fedSpeech, streamedSpeech, flippedDecisions } = await measure(kind);
    // What a user would notice, on the gate's frames (the original's state fed in).
    expect(fedSpeech).toBeLessThan(NOTICEABLE);
    // Streaming on its own, the variant's state drifts from the original's over up to 48 frames:
    // its largest deviation (int8 on v6: ~0.065, on a frame where the original itself is
    // undecided, 0.3–0.5) is held to twice the bound above, this test's own limit and no gate
    // tolerance. No frame the original clearly decides (0.05 or more from vad-web's 0.5
    // threshold) changes side.
    expect(streamedSpeech).toBeLessThan(2 * NOTICEABLE);
    expect(flippedDecisions).toBe(0);
  });

  it('publishes fp16: it passes the gate with the default tolerances', () => {
    const result = built.get('fp16')!;
    expect(result.status, result.reason).toBe('ready');
    expect(result.tolerance).toEqual({ minCosine: 0.999, minTop1Agreement: 0.99 });
    expect(result.accuracy.cosine).toBeGreaterThanOrEqual(0.9999);
    // Weight-dominated: every Conv filter, LSTM matrix and STFT basis is stored as float16.
    expect(result.size / original.length).toBeLessThan(0.54);
  });

  it('gates int8 on the default tolerances: cosine passes; top-1 is measured on the LSTM state and may reject it', () => {
    const result = built.get('int8')!;
    expect(result.tolerance).toEqual({ minCosine: 0.99, minTop1Agreement: 0.98 });
    expect(result.accuracy.cosine).toBeGreaterThanOrEqual(0.9999);
    expect(result.size / original.length).toBeLessThan(0.31);
    // Silero has no classifier output: `output` is [N, 1]. But its recurrent state outputs
    // ([2, N, 64] or [2, N, 128]) fit the gate's classifier heuristic (rank ≥ 2, last dimension
    // ≥ 2), so "top-1 agreement" here is the share of state rows whose largest hidden unit stays
    // the largest. int8 moves a few near-ties (3 of 96 rows for legacy, 3 of 144 for v6) while
    // the speech probability stays within 0.025 (previous test); for legacy and v6 that is
    // enough to fall under the 98 % default. This is what the gate does on this model today, recorded as is: the default
    // tolerance is not loosened. A model owner can pass `tolerance: { minTop1Agreement: 0 }`, but
    // see the pruned-50 test for why the gate then no longer protects them.
    expect(result.status, result.reason).toBe(model.int8Status);
    if (model.int8Status === 'rejected') {
      expect(result.reason).toMatch(/^int8 rejected: top-1 agreement 9\d\.\d\d % is below the tolerance 98\.00 %$/);
    }
  });

  it('rewrites the weights inside the If branches, LSTM matrices included', () => {
    const int8 = decoders(built.get('int8')!.bytes);
    const fp16 = decoders(built.get('fp16')!.bytes);
    if (model.legacy) {
      // Conv weights are main-graph initializers read from inside the branches; the LSTM
      // weights are initializers of the nested branches: 2 rates × 2 (state given or not) × 2 layers × (W, R).
      expect(int8.subgraphs).toHaveLength(16);
      expect(int8.main.length).toBeGreaterThan(0);
    } else {
      // Per rate branch: the STFT basis, 4 encoder Conv filters, and the LSTM's input and
      // recurrent matrices, which reach the LSTM only through Slice → Concat → Unsqueeze.
      expect(int8.main).toEqual([]);
      expect(int8.subgraphs).toHaveLength(14);
      expect(int8.subgraphs.filter((name) => /decoder\.rnn\.weight_(ih|hh)$/.test(name))).toHaveLength(4);
      expect(fp16.main).toEqual([]);
    }
    expect(fp16.subgraphs.length).toBeGreaterThanOrEqual(int8.subgraphs.length);
  });

  it('rejects pruned-50, which a user would notice, though only through top-1 agreement on the state', async () => {
    // Magnitude pruning without fine-tuning zeroes half of every Conv filter, LSTM matrix and
    // of the fixed STFT basis of a ~0.5 M-parameter model: the speech probability moves by far
    // more than 0.05 on some frame. Rejecting it is right, but the gate gets there only through
    // the top-1 heuristic on the state rows: the cosine over all outputs (dominated by the
    // 128–256 state values against one probability) still meets the 0.98 pruning default.
    const { fedSpeech } = await measure('pruned-50');
    expect(fedSpeech).toBeGreaterThan(NOTICEABLE);
    const result = built.get('pruned-50')!;
    expect(result.status).toBe('rejected');
    expect(result.reason).toMatch(/^pruned-50 rejected: top-1 agreement [\d.]+ % is below the tolerance 97\.00 %$/);
    expect(result.accuracy.cosine).toBeGreaterThanOrEqual(0.98);
  });
});

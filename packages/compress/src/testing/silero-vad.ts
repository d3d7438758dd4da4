import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { EvaluationFeed } from '../accuracy/evaluation-types.js';
import { createSession, ort } from '../accuracy/onnx-runtime.js';
import { seededRandom } from './seeded-random.js';

/*
 * The Silero voice-activity detectors that `@ricky0123/vad-web` (a devDependency) ships: real
 * pretrained models installed from npm, and the speech-like audio and frame streaming to
 * evaluate them the way vad-web runs them.
 */

/** Sample rates the Silero models take; each has its own branch (an `If` subgraph) in the model. */
export type SileroSampleRate = 8000 | 16000;

/** How to run one Silero model file. */
export interface SileroVadModel {
  name: string;
  /** Absolute path of the `.onnx` file in `@ricky0123/vad-web/dist`. */
  path: string;
  /** New samples per call (vad-web: 1536 for legacy, 512 for v5 / v6 at 16 kHz). */
  hop: Record<SileroSampleRate, number>;
  /** Samples of the previous frame fed again before the new ones (v5 / v6: 64 at 16 kHz, as vad-web does). */
  context: Record<SileroSampleRate, number>;
  /** Recurrent state: input name, the output that carries it to the next call, and its shape for one stream. */
  state: { input: string; output: string; dims: number[] }[];
}

const dist = () => join(dirname(createRequire(import.meta.url).resolve('@ricky0123/vad-web/package.json')), 'dist');

/** Silero VAD legacy (v4, exported by PyTorch), v5 and v6 (exported by spox). */
export function sileroVadModels(): Record<'legacy' | 'v5' | 'v6', SileroVadModel> {
  const v5Like = (name: string, file: string): SileroVadModel => ({
    name,
    path: join(dist(), file),
    hop: { 16000: 512, 8000: 256 },
    context: { 16000: 64, 8000: 32 },
    state: [{ input: 'state', output: 'stateN', dims: [2, 1, 128] }],
  });
  return {
    legacy: {
      name: 'Silero VAD legacy (v4)',
      path: join(dist(), 'silero_vad_legacy.onnx'),
      hop: { 16000: 1536, 8000: 768 },
      context: { 16000: 0, 8000: 0 },
      state: [
        { input: 'h', output: 'hn', dims: [2, 1, 64] },
        { input: 'c', output: 'cn', dims: [2, 1, 64] },
      ],
    },
    v5: v5Like('Silero VAD v5', 'silero_vad_v5.onnx'),
    v6: v5Like('Silero VAD v6', 'silero_vad_v6.onnx'),
  };
}

/** Vowels as their first two formants (Hz): /a/, /i/, /u/, /e/, /o/. */
const VOWELS: readonly (readonly [number, number])[] = [
  [730, 1090],
  [270, 2290],
  [300, 870],
  [530, 1840],
  [570, 840],
];

/**
 * Speech-like audio, seeded: faint background noise throughout, and two utterances of
 * syllables (voiced harmonics of a gliding pitch shaped by a vowel's formants, opening and
 * closing at ~5 syllables a second), from 0.18 to 0.7 s and from 0.92 to 1.4 s.
 */
export function speechLikeAudio(sampleRate: SileroSampleRate, seconds: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const audio = new Float32Array(Math.round(sampleRate * seconds));
  const utterances = [
    [0.18, 0.7],
    [0.92, 1.4],
  ] as const;
  let phase = 0;
  for (let i = 0; i < audio.length; i++) {
    const t = i / sampleRate;
    let sample = 0.004 * (random() * 2 - 1);
    const utterance = utterances.find(([start, end]) => t >= start && t < end);
    if (utterance) {
      const u = t - utterance[0];
      const syllable = Math.floor(u * 5);
      const opening = Math.sin(Math.PI * ((u * 5) % 1)) ** 2;
      const f0 = 120 + 35 * Math.sin(2 * Math.PI * 1.3 * t) + 10 * syllable;
      phase += (2 * Math.PI * f0) / sampleRate;
      const [f1, f2] = VOWELS[(syllable + (utterance[0] > 0.5 ? 2 : 0)) % VOWELS.length]!;
      let voiced = 0;
      for (let h = 1; h * f0 < sampleRate / 2 && h <= 40; h++) {
        const f = h * f0;
        const gain = Math.exp(-(((f - f1) / 120) ** 2)) + 0.5 * Math.exp(-(((f - f2) / 180) ** 2)) + 0.02;
        voiced += (gain * Math.sin(h * phase)) / Math.sqrt(h);
      }
      sample += 0.25 * opening * voiced + 0.01 * opening * (random() * 2 - 1);
    }
    audio[i] = sample;
  }
  return audio;
}

/** The frames vad-web would feed: `hop` new samples, preceded by `context` samples of the previous frame (zeros at the start). */
export function vadFrames(audio: Float32Array, hop: number, context: number): Float32Array[] {
  const result: Float32Array[] = [];
  for (let start = 0; start + hop <= audio.length; start += hop) {
    const frame = new Float32Array(context + hop);
    const from = start - context;
    frame.set(audio.subarray(Math.max(0, from), start + hop), Math.max(0, -from));
    result.push(frame);
  }
  return result;
}

/** A model's run over a stream of frames. */
export interface VadStream {
  /** Per frame: the inputs fed, with the state carried from the previous frame. */
  feeds: EvaluationFeed[];
  /** Per frame: the speech probability. */
  speech: number[];
  /** Per frame: the recurrent state returned, flattened. */
  states: Float32Array[];
}

/** Runs a model over frames as vad-web does, carrying its own recurrent state from frame to frame (zero at first). */
export async function streamVad(session: ort.InferenceSession, model: SileroVadModel, frames: readonly Float32Array[], sampleRate: SileroSampleRate): Promise<VadStream> {
  const result: VadStream = { feeds: [], speech: [], states: [] };
  let state: Float32Array[] = model.state.map((s) => new Float32Array(s.dims.reduce((a, b) => a * b, 1)));
  for (const frame of frames) {
    const feed: Record<string, EvaluationFeed[string]> = {
      input: { type: 'float32', data: frame, dims: [1, frame.length] },
      sr: { type: 'int64', data: BigInt64Array.of(BigInt(sampleRate)), dims: [] },
    };
    model.state.forEach((s, i) => (feed[s.input] = { type: 'float32', data: state[i]!, dims: s.dims }));
    result.feeds.push(feed);
    const outputs = await runFeed(session, feed);
    result.speech.push(outputs.output![0]!);
    state = model.state.map((s) => outputs[s.output]!);
    result.states.push(Float32Array.from(state.flatMap((s) => Array.from(s))));
  }
  return result;
}

/** One run of a session on a feed, outputs copied out as float32. */
export async function runFeed(session: ort.InferenceSession, feed: EvaluationFeed): Promise<Record<string, Float32Array>> {
  const inputs = Object.fromEntries(Object.entries(feed).map(([name, t]) => [name, new ort.Tensor(t.type, t.data, t.dims)]));
  const outputs = await session.run(inputs);
  return Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, Float32Array.from(t.data as Float32Array)]));
}

/** Seconds of speech-like audio streamed at each rate: 1.536 s at 16 kHz (16 legacy / 48 v5 frames), 0.768 s at 8 kHz. */
export const SILERO_EVALUATION_SECONDS: Readonly<Record<SileroSampleRate, number>> = { 16000: 1.536, 8000: 0.768 };

/** A Silero model's bytes and its evaluation set, with the original's streams it was cut from. */
export interface SileroEvaluation {
  bytes: Uint8Array;
  /** Every frame of both rates, 16 kHz first, with the state the original carried into it. */
  feeds: EvaluationFeed[];
  /** Per rate: the frames and the original's run over them. */
  streams: Map<SileroSampleRate, { frames: Float32Array[]; reference: VadStream }>;
}

/**
 * Loads a Silero model and streams seeded speech-like audio through it at 16 kHz and at 8 kHz
 * (so both `If` branches run), as vad-web would: the feeds, each with the state the original
 * returned for the previous frame, make an evaluation set for `buildVariant`.
 */
export async function sileroEvaluation(model: SileroVadModel, seed = 5): Promise<SileroEvaluation> {
  const bytes = new Uint8Array(await readFile(model.path));
  const session = await createSession(bytes);
  try {
    const streams: SileroEvaluation['streams'] = new Map();
    for (const rate of [16000, 8000] as const) {
      const frames = vadFrames(speechLikeAudio(rate, SILERO_EVALUATION_SECONDS[rate], seed), model.hop[rate], model.context[rate]);
      streams.set(rate, { frames, reference: await streamVad(session, model, frames, rate) });
    }
    const feeds = [...streams.get(16000)!.reference.feeds, ...streams.get(8000)!.reference.feeds];
    return { bytes, feeds, streams };
  } finally {
    await session.release();
  }
}

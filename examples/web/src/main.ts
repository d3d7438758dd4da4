// The example page: draws, classifies with a Ferry-served model, works offline after the first visit.
import { createFerry, FerryError, type DownloadProgress, type Ferry, type FerryModel } from '@ferry/sdk';

/** Written by `scripts/publish-model.ts` next to index.html. */
interface ExampleConfig {
  /** Ferry server; default: this page's origin (serve.mjs proxies /v1 to Ferry). */
  serverUrl?: string;
  appKey: string;
  appKeyId?: string;
  /** Pinned public keys; without them the page trusts the server's /v1/keys. */
  jwks?: { keys: JsonWebKey[] };
  model: string;
}

interface ExampleState {
  phase: 'starting' | 'ready' | 'error';
  progress: DownloadProgress[];
  model?: { version: number; backend: string; variant: string; source: string; stale: boolean; failures: number };
  storage?: string;
  results?: { label: string; score: number }[];
  /** True once the background update found the server unreachable. */
  offline?: boolean;
  error?: string;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusEl = $('status');
const progressEl = $<HTMLProgressElement>('progress');
const progressText = $('progress-text');
const pad = $<HTMLCanvasElement>('pad');
const classifyButton = $<HTMLButtonElement>('classify');
const results = $('results');
const info = $('model-info');

const state: ExampleState = { phase: 'starting', progress: [] };
// For people poking around in devtools, and for the end-to-end test.
(window as unknown as { ferryExample: { state: ExampleState; classify: () => Promise<void> } }).ferryExample = { state, classify };

let model: FerryModel | null = null;

function setStatus(text: string, kind: 'ok' | 'offline' | 'error' = 'ok') {
  statusEl.textContent = text;
  statusEl.className = kind === 'ok' ? '' : kind;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

function showProgress(p: DownloadProgress) {
  state.progress.push(p);
  progressEl.hidden = false;
  progressEl.value = p.total ? p.bytes / p.total : 0;
  progressText.textContent = `${mb(p.bytes)} of ${mb(p.total)}${p.rate ? ` · ${mb(p.rate)}/s` : ''}`;
}

// --- Drawing -----------------------------------------------------------------------------------

const ctx = pad.getContext('2d', { willReadFrequently: true })!;
function clearPad() {
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, pad.width, pad.height);
  results.replaceChildren();
}
clearPad();
let drawing = false;
pad.addEventListener('pointerdown', (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  ctx.beginPath();
  ctx.moveTo(e.offsetX, e.offsetY);
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  ctx.lineWidth = 22;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.strokeStyle = '#000';
  ctx.lineTo(e.offsetX, e.offsetY);
  ctx.stroke();
});
pad.addEventListener('pointerup', () => {
  drawing = false;
  if (model) void classify();
});
$('clear').addEventListener('click', clearPad);
classifyButton.addEventListener('click', () => void classify());

/**
 * MNIST digits are about 20 px tall in a 28×28 box, centred by their centre of mass: frame the
 * drawing the same way before the SDK's preprocessing resizes it to 28×28.
 */
function framedDigit(): HTMLCanvasElement | null {
  const { data, width, height } = ctx.getImageData(0, 0, pad.width, pad.height);
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  let [mass, mx, my] = [0, 0, 0];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const ink = 255 - data[(y * width + x) * 4]!;
      if (ink < 32) continue;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
      mass += ink;
      mx += ink * x;
      my += ink * y;
    }
  }
  if (x1 < 0) return null;
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const side = Math.ceil((Math.max(w, h) * 28) / 20);
  const framed = document.createElement('canvas');
  framed.width = framed.height = side;
  const f = framed.getContext('2d')!;
  f.fillStyle = '#fff';
  f.fillRect(0, 0, side, side);
  f.drawImage(pad, x0, y0, w, h, Math.round(side / 2 - (mx / mass - x0)), Math.round(side / 2 - (my / mass - y0)), w, h);
  return framed;
}

async function classify(): Promise<void> {
  if (!model) return;
  const digit = framedDigit();
  if (!digit) return;
  const top = await model.classify(digit, { topK: 3 });
  state.results = top.map(({ label, score }) => ({ label, score }));
  results.replaceChildren(
    ...top.map(({ label, score }) => {
      const li = document.createElement('li');
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.round(score * 120)}px`;
      li.append(`${label} · ${(score * 100).toFixed(1)} %`, bar);
      return li;
    }),
  );
}

// --- Ferry ------------------------------------------------------------------------------------

/** Why candidates were passed over, each reason once (several variants are often offered on a backend the device lacks). */
function passedOver(failures: FerryModel['failures']): string[] {
  return [...new Set(failures.map((f) => (f.reason.includes(`"${f.backend}"`) ? f.reason : `${f.backend}: ${f.reason}`)))];
}

function describe(m: FerryModel, storage: string) {
  const rows: [string, string][] = [
    ['model', `${m.name} v${m.version} (release ${m.release})`],
    ['variant', `${m.variant} · ${m.precision} · ${mb(m.size)}`],
    ['backend', m.backend + (m.failures.length ? ` (after ${passedOver(m.failures).join('; ')})` : '')],
    ['from', m.source === 'cache' ? `this device's cache (${storage})${m.stale ? ', server unreachable' : ''}` : 'the network, now cached'],
  ];
  info.replaceChildren(...rows.flatMap(([k, v]) => [Object.assign(document.createElement('dt'), { textContent: k }), Object.assign(document.createElement('dd'), { textContent: v })]));
}

async function start(): Promise<void> {
  if ('serviceWorker' in navigator) await navigator.serviceWorker.register('./sw.js').catch(() => undefined);
  const config = (await (await fetch('./config.json')).json()) as ExampleConfig;
  const ferry: Ferry = createFerry({
    serverUrl: config.serverUrl ?? location.origin,
    appKey: config.appKey,
    ...(config.appKeyId ? { appKeyId: config.appKeyId } : {}),
    ...(config.jwks ? { trustedKeys: config.jwks } : { jwksUrl: '/v1/keys' }),
    ort: { wasmPaths: new URL('./ort/', location.href).href },
    cache: { persist: true },
  });
  setStatus('Looking for the model…');
  model = await ferry.getModel(config.model, { policy: 'local-then-update', onProgress: showProgress });
  const storage = (await ferry.cacheInfo()).kind;
  state.storage = storage;
  state.model = { version: model.version, backend: model.backend, variant: model.variant, source: model.source, stale: model.stale, failures: model.failures.length };
  describe(model, storage);
  progressEl.hidden = true;
  progressText.textContent = '';
  setStatus(model.stale ? 'Offline: using the model cached on this device.' : `Ready: ${model.name} v${model.version} on ${model.backend}.`, model.stale ? 'offline' : 'ok');
  classifyButton.disabled = false;
  state.phase = 'ready';
  void model.update?.then((u) => {
    if (u.updated) setStatus(`Version ${u.version} downloaded: reload to use it.`);
    else if (u.error instanceof FerryError && ['network_error', 'offline', 'download_failed'].includes(u.error.code)) {
      state.offline = true;
      setStatus('Offline: using the model cached on this device.', 'offline');
    }
  });
}

start().catch((err: unknown) => {
  state.phase = 'error';
  state.error = err instanceof FerryError ? `${err.code}: ${err.message}` : String(err);
  setStatus(`Could not load the model: ${state.error}`, 'error');
});

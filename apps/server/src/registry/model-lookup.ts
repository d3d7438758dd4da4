import { FerryError } from '../errors.js';
import type { Model, Prisma, Version } from '../generated/prisma/client.js';

/** The 404 for a model name that is not in the caller's project. */
export function modelNotFound(name: string): FerryError {
  return new FerryError('model_not_found', `no model "${name}" in this project`);
}

/** The 404 for a version number a model does not have. */
export function versionNotFound(model: string, version: number): FerryError {
  return new FerryError('version_not_found', `model "${model}" has no version ${version}`);
}

type Db = Pick<Prisma.TransactionClient, 'model' | 'version'>;

/** The named model of a project and one of its versions, or the matching 404. */
export async function requireModelVersion(db: Db, projectId: string, modelName: string, number: number): Promise<{ model: Model; version: Version }> {
  const model = await db.model.findUnique({ where: { projectId_name: { projectId, name: modelName } } });
  if (!model) throw modelNotFound(modelName);
  const version = await db.version.findUnique({ where: { modelId_number: { modelId: model.id, number } } });
  if (!version) throw versionNotFound(model.name, number);
  return { model, version };
}

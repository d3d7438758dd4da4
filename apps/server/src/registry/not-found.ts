import { FerryError } from '../errors.js';

/** The 404 for a model name that is not in the caller's project. */
export function modelNotFound(name: string): FerryError {
  return new FerryError('model_not_found', `no model "${name}" in this project`);
}

/** The 404 for a version number a model does not have. */
export function versionNotFound(model: string, version: number): FerryError {
  return new FerryError('version_not_found', `model "${model}" has no version ${version}`);
}

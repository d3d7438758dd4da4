import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Role } from '@ferry/protocol';
import { assertAllowed, type Principal } from '../auth/principal.js';
import { FerryError } from '../errors.js';

export interface ProjectAccess {
  principal: Principal;
  project: { id: string; name: string };
}

/**
 * Authenticates the admin token and checks it may act with `role` on the named project.
 * A token scoped to another project learns nothing about whether this one exists.
 */
export async function projectAccess(
  app: FastifyInstance,
  request: FastifyRequest,
  projectName: string,
  role: Role,
): Promise<ProjectAccess> {
  const principal = await app.adminAuth.authenticate(request);
  const project = await app.db.prisma.project.findUnique({ where: { name: projectName }, select: { id: true, name: true } });
  if (!project) {
    if (principal.projectId !== null) throw new FerryError('forbidden', 'this token is not valid for this project');
    throw new FerryError('project_not_found', `no project "${projectName}"`);
  }
  assertAllowed(principal, project, role);
  return { principal, project };
}

/** Common route schema parts. */
export const adminSecurity = [{ adminToken: [] }];

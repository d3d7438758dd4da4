import { ROLES, type Role } from '@ferry/protocol';
import { FerryError } from '../errors.js';

/** Who is calling the admin API. */
export interface Principal {
  /** `bootstrap` for FERRY_ADMIN_TOKEN, otherwise the token id. */
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  /** Project the token is scoped to; null for the bootstrap token, which may act on every project. */
  readonly projectId: string | null;
}

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** Throws `forbidden` unless the principal may act with `needed` on the project. */
export function assertAllowed(principal: Principal, project: { id: string }, needed: Role): void {
  if (principal.projectId !== null && principal.projectId !== project.id) {
    throw new FerryError('forbidden', 'this token is not valid for this project');
  }
  if (!roleAtLeast(principal.role, needed)) {
    throw new FerryError('forbidden', `this action needs the ${needed} role; the token has ${principal.role}`);
  }
}

/** How the audit log names an actor. */
export function actorOf(principal: Principal): string {
  return principal.id === 'bootstrap' || principal.id === 'system' ? principal.id : `token:${principal.id}`;
}

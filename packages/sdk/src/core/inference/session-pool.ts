import type { ModelSession } from './runtime.js';

/** Loaded sessions shared by every handle of the same bytes on the same backend. */
export class SessionPool {
  private readonly sessions = new Map<string, { session: Promise<ModelSession>; refs: number }>();

  /** The session for `key`, created by `create` if there is none yet (a failed creation is not kept). */
  acquire(key: string, create: () => Promise<ModelSession>): Promise<ModelSession> {
    const existing = this.sessions.get(key);
    if (existing) {
      existing.refs++;
      return existing.session;
    }
    const session = create();
    this.sessions.set(key, { session, refs: 1 });
    session.catch(() => {
      if (this.sessions.get(key)?.session === session) this.sessions.delete(key);
    });
    return session;
  }

  /** Drops one reference; the session is released with the last. */
  async release(key: string): Promise<void> {
    const entry = this.sessions.get(key);
    if (!entry) return;
    entry.refs--;
    if (entry.refs > 0) return;
    this.sessions.delete(key);
    await (await entry.session).release();
  }

  async releaseAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(all.map(async (e) => (await e.session).release()));
  }
}

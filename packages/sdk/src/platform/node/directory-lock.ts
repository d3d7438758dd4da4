import { mkdir, rmdir, stat, utimes } from 'node:fs/promises';

/** A lock whose time stamp was not renewed for this long was left by a process that died. */
const STALE_MS = 10_000;
const RENEW_MS = 2_000;
/** Longest wait for a lock another process holds; the caller then goes on without it. */
const GIVE_UP_MS = 60_000;

/**
 * Takes the lock `path` across processes: a directory, which `mkdir` makes in one process only.
 * While it is held its time stamp is renewed every 2 s; one not renewed for 10 s is taken over
 * (its process died mid-section). Resolves with its release, or null: at once when the directory
 * cannot be made for another reason than being held (a read-only cache), or when another process
 * held it for a minute.
 *
 * Not proper-lockfile, which does the same: it loads graceful-fs, which replaces Node's global
 * `fs.close`, and signal-exit, which hooks the process's signals, in the app that embeds the SDK.
 * As there, two processes that find one dead holder's lock at the same moment can both take it
 * (one removes it, the other has just made it anew); that needs a crash and a race at once.
 */
export async function lockDirectory(path: string): Promise<(() => Promise<void>) | null> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(path);
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') return null;
    }
    // (Gone meanwhile: its holder let go, try again at once.)
    const age = await stat(path).then(
      (s) => Date.now() - s.mtimeMs,
      () => null,
    );
    if (age === null) continue;
    if (age > STALE_MS) {
      await rmdir(path).catch(() => undefined);
      continue;
    }
    if (Date.now() - started > GIVE_UP_MS) return null;
    const delay = Math.min(100, 2 * 1.3 ** attempt) * (0.5 + Math.random());
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  const renew = setInterval(() => {
    const now = new Date();
    void utimes(path, now, now).catch(() => undefined);
  }, RENEW_MS);
  renew.unref();
  return async () => {
    clearInterval(renew);
    await rmdir(path).catch(() => undefined);
  };
}

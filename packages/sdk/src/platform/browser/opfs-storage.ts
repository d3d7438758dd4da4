import type { ArtifactStore } from '../../core/platform.js';

interface WritableFile {
  write(data: BufferSource): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

type FileHandle = FileSystemFileHandle & { createWritable?: () => Promise<WritableFile> };

/** True when this browser can write OPFS files from this thread (`createWritable`). */
export function opfsWritable(): boolean {
  return (
    typeof navigator !== 'undefined' &&
    typeof navigator.storage?.getDirectory === 'function' &&
    typeof FileSystemFileHandle !== 'undefined' &&
    'createWritable' in FileSystemFileHandle.prototype
  );
}

/** The OPFS directory `ferry/<namespace>/artifacts`, created if needed. */
export async function opfsDirectory(namespace: string): Promise<FileSystemDirectoryHandle> {
  let dir = await navigator.storage.getDirectory();
  for (const part of ['ferry', namespace, 'artifacts']) dir = await dir.getDirectoryHandle(part, { create: true });
  return dir;
}

const isMissing = (err: unknown) => (err as { name?: string }).name === 'NotFoundError';

/**
 * Artifacts as files in the origin private file system. A writable stream writes to a swap file
 * that replaces the file only when closed, so a reader never sees half an artifact.
 */
export class OpfsArtifactStore implements ArtifactStore {
  constructor(private readonly dir: FileSystemDirectoryHandle) {}

  async match(key: string): Promise<Uint8Array | undefined> {
    try {
      const handle = await this.dir.getFileHandle(key);
      return new Uint8Array(await (await handle.getFile()).arrayBuffer());
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const handle = (await this.dir.getFileHandle(key, { create: true })) as FileHandle;
    const writable = await handle.createWritable!();
    try {
      await writable.write(bytes as Uint8Array<ArrayBuffer>);
      await writable.close();
    } catch (err) {
      await writable.abort().catch(() => undefined);
      // A file created for this write and never completed is not an artifact.
      const existing = await handle.getFile().then((f) => f.size).catch(() => 0);
      if (existing === 0) await this.dir.removeEntry(key).catch(() => undefined);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.dir.removeEntry(key).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }

  async list(): Promise<{ key: string; size: number }[]> {
    const out: { key: string; size: number }[] = [];
    const entries = (this.dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries();
    for await (const [name, handle] of entries) {
      if (handle.kind !== 'file') continue;
      const size = (await (handle as FileSystemFileHandle).getFile()).size;
      // Empty files are left-overs of interrupted writes.
      if (size > 0) out.push({ key: name, size });
    }
    return out;
  }
}

import type { ArtifactStore, MetaStore } from '../../core/platform.js';

const ARTIFACTS = 'artifacts';
const META = 'meta';

function promised<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Opens (creating) the Ferry database of a namespace. */
export function openFerryDatabase(name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(ARTIFACTS)) db.createObjectStore(ARTIFACTS);
      if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error(`the database ${name} is blocked by another tab`));
  });
}

/** Runs one request in its own transaction and waits for the transaction to commit (durability, quota errors). */
async function inTransaction<T>(db: IDBDatabase, store: string, mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const tx = db.transaction(store, mode);
  const done = new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('the transaction was aborted', 'AbortError'));
    tx.onerror = () => reject(tx.error);
  });
  const result = await promised(op(tx.objectStore(store)));
  await done;
  return result;
}

interface StoredArtifact {
  bytes: ArrayBuffer;
  size: number;
}

/** Artifacts as ArrayBuffers in IndexedDB: the fallback where OPFS is missing. Quota errors surface as `QuotaExceededError`. */
export class IndexedDbArtifactStore implements ArtifactStore {
  constructor(private readonly db: IDBDatabase) {}

  async match(key: string): Promise<Uint8Array | undefined> {
    const stored = await inTransaction<StoredArtifact | undefined>(this.db, ARTIFACTS, 'readonly', (s) => s.get(key));
    return stored ? new Uint8Array(stored.bytes) : undefined;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const copy = bytes.slice().buffer;
    await inTransaction(this.db, ARTIFACTS, 'readwrite', (s) => s.put({ bytes: copy, size: bytes.byteLength } satisfies StoredArtifact, key));
  }

  async delete(key: string): Promise<void> {
    await inTransaction(this.db, ARTIFACTS, 'readwrite', (s) => s.delete(key));
  }

  async list(): Promise<{ key: string; size: number }[]> {
    const out: { key: string; size: number }[] = [];
    const tx = this.db.transaction(ARTIFACTS, 'readonly');
    await new Promise<void>((resolve, reject) => {
      const cursor = tx.objectStore(ARTIFACTS).openCursor();
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c) return resolve();
        out.push({ key: String(c.key), size: (c.value as StoredArtifact).size });
        c.continue();
      };
      cursor.onerror = () => reject(cursor.error);
    });
    return out;
  }
}

/** Small JSON values in IndexedDB. */
export class IndexedDbMetaStore implements MetaStore {
  constructor(private readonly db: IDBDatabase) {}

  async get<T>(key: string): Promise<T | undefined> {
    return (await inTransaction(this.db, META, 'readonly', (s) => s.get(key))) as T | undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    // Structured clone keeps plain JSON data as it is; a JSON round trip drops anything else.
    await inTransaction(this.db, META, 'readwrite', (s) => s.put(JSON.parse(JSON.stringify(value)) as unknown, key));
  }

  async delete(key: string): Promise<void> {
    await inTransaction(this.db, META, 'readwrite', (s) => s.delete(key));
  }
}

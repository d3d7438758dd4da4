// Service worker of the example: the page's own files (HTML, JS, ONNX Runtime's wasm) are kept
// so that the page opens offline. The model is not cached here: the Ferry SDK keeps it
// (verified) in OPFS / IndexedDB. Device API calls (/v1/…) always go to the network.
const CACHE = 'ferry-example-__BUILD_ID__';
const FILES = __FILES__;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(FILES))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('ferry-example-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.includes('/v1/') || url.pathname.includes('/.well-known/')) return;
  // Network first (a new build shows at once), the kept copy when offline.
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok && url.pathname.endsWith('config.json')) {
          const copy = response.clone();
          void caches.open(CACHE).then((cache) => cache.put(event.request, copy));
        }
        return response;
      })
      .catch(() => caches.match(event.request, { ignoreSearch: true }).then((hit) => hit ?? Response.error())),
  );
});

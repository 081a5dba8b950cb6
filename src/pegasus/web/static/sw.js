// Pegasus service worker, served at /sw.js (scope "/").
//
// Caches the app shell only: files under /static/ (stale-while-revalidate) and the /offline
// page. It never caches /api/ responses or pages (they hold the learner's data); a page
// navigation that fails because the network is down shows the cached /offline page.
const VERSION = "__PEGASUS_VERSION__";
const CACHE = "pegasus-shell-" + VERSION;
const SHELL = [
  "/offline",
  "/static/css/app.css",
  "/static/js/api.js",
  "/static/js/sw-register.js",
  "/static/manifest.webmanifest",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
  "/static/icons/maskable-192.png",
  "/static/icons/maskable-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { credentials: "omit" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(
        keys.filter((key) => key.startsWith("pegasus-shell-") && key !== CACHE)
          .map((key) => caches.delete(key)),
      ))
      .then(() => self.clients.claim()),
  );
});

function staleWhileRevalidate(request) {
  return caches.open(CACHE).then((cache) =>
    cache.match(request).then((cached) => {
      const fresh = fetch(request).then((response) => {
        if (response.ok && response.type === "basic") cache.put(request, response.clone());
        return response;
      });
      if (cached) {
        fresh.catch(() => undefined);
        return cached;
      }
      return fresh;
    }),
  );
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) return; // never cached: always the network
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(staleWhileRevalidate(request));
    return;
  }
  if (request.mode === "navigate") {
    // Pages are not cached (they hold user data); only the offline fallback is.
    event.respondWith(
      fetch(request).catch(() =>
        caches.match("/offline").then((page) => page || new Response("You are offline.", {
          status: 503,
          headers: { "Content-Type": "text/plain; charset=utf-8" },
        })),
      ),
    );
  }
});

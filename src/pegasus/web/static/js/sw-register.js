// Registers the service worker (served at /sw.js so that its scope is the whole app).
if ("serviceWorker" in navigator && window.isSecureContext) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
      // The app works without it; only offline start-up is lost.
    });
  });
}

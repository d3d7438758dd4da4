// Bundled for the browser tests: exposes the SDK to pages driven by playwright.
import { createFerry, FerryError } from '../platform/browser/index.js';

declare global {
  interface Window {
    harness: { createFerry: typeof createFerry; FerryError: typeof FerryError };
  }
}

window.harness = { createFerry, FerryError };

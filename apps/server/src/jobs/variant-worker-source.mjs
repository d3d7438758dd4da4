// Entry of the variant worker when the server runs from its TypeScript sources (tests, tsx):
// worker threads do not inherit the parent's --import loaders, so tsx is registered here.
import { register } from 'tsx/esm/api';

register();
await import('./variant-worker.ts');

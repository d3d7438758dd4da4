import { setFlagsFromString } from 'node:v8';

// V8's allocation-site pretenuring: when, early on, objects from one allocation site mostly
// survive a young-generation GC, later objects from that site go straight to the old
// generation. A server that passes its start-up (slow first requests, loads, signatures) can
// end up with a per-request site pretenured: every request then fills the old generation with
// garbage and major GCs run several times a second. Measured on the resolve benchmark: 4 of 11
// server processes fell into that state (~54 instead of ~35 µs of CPU per resolve, 3x the
// mark-compacts, p99 over 10 ms); with pretenuring off, 0 of 13. Imported first by main.ts,
// before any request is served.
setFlagsFromString('--no-allocation-site-pretenuring');

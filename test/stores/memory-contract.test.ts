import { describe, it } from 'vitest';
import { createMemoryStore } from '../../src/stores/memory.ts';
import { runStoreContract } from '../../src/testing.ts';

// The memory store holds parsed-then-stringified records only, so it has no corrupt state to test.
runStoreContract('memory', () => createMemoryStore({ sweepInterval: 0 }), { describe, it });
runStoreContract('memory (bounded, swept)', () => createMemoryStore({ maxEntries: 1000, sweepInterval: 50 }), { describe, it });

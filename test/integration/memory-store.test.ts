import { MemoryQueueStore } from '#adapters/memory-store';
import { describeQueueStore } from './queue-store.contract.ts';

describeQueueStore('embedded (memory)', () => new MemoryQueueStore());

import { MemoryConnectionRegistry } from '#adapters/memory-connections';
import { describeConnectionRegistry } from './connection-registry.contract.ts';

describeConnectionRegistry('in memory', () => new MemoryConnectionRegistry(4));

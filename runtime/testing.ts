/**
 * Test helpers of the runtime layer: a Machine with the store-level structures a VMContext
 * points at, without the full Store API.
 */
import type { Arch } from '../isa/arch.ts';
import { BUILTIN_FUNCTIONS_TOTAL_NUMBER } from '../compiler/builtins.ts';
import { VMExternRefActivationsTableLayout } from '../compiler/vmoffsets.ts';
import { Machine } from '../simulator/machine.ts';
import { GuestHeap } from './heap.ts';
import { VMRuntimeLimits } from './limits.ts';
import { SignatureRegistry } from './signatures.ts';
import type { VMContextEnvironment } from './vmcontext.ts';

export const ARCHES: readonly Arch[] = ['x64', 'aarch64'];

export async function testEnvironment(arch: Arch, storeId = 7n): Promise<VMContextEnvironment & { machine: Machine }> {
  const machine = await Machine.create({ arch });
  const heap = new GuestHeap(machine);
  const limits = VMRuntimeLimits.allocate(machine, heap);
  const epochAddress = heap.alloc(8, 8);
  const activationsTableAddress = heap.alloc(VMExternRefActivationsTableLayout.chunk + 8, 16);
  const builtinsArrayAddress = heap.alloc(8 * BUILTIN_FUNCTIONS_TOTAL_NUMBER, 16);
  return {
    machine, heap, limits, epochAddress, activationsTableAddress, storeId, builtinsArrayAddress,
    signatures: new SignatureRegistry(),
    memoryOptions: { guardBytes: 1n << 20n },
  };
}

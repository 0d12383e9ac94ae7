import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { compileModule, SECTION_MODULE, SECTION_STACKMAPS } from '../compiler/index.ts';
import { readModuleMetadata, readStackMaps } from '../compiler/image-reader.ts';
import { watModule } from '../compiler/testing.ts';
import { readElf } from '../loader/elf.ts';
import { StackMapRegistry } from './stackmap-registry.ts';
import { stackMapsFromCompiledImage, stackMapsFromImageSections } from './image-stackmaps.ts';

const WAT = `(module
  (import "env" "use" (func $use (param externref)))
  (func $keep (param $a externref) (param $b externref) (result externref)
    local.get $a
    call $use
    local.get $b
    call $use
    local.get $a)
  (func $other (param $x externref)
    local.get $x
    call $use))`;

for (const arch of ARCHES) {
  test(`${arch}: compiled image and its sections give the same registry; every call site resolves exactly`, async (t) => {
    const module = await watModule(WAT);
    const image = compileModule(module, { arch });
    const textStart = 0x1000_0000n;
    const fromImage = stackMapsFromCompiledImage('m', textStart, image);
    const elf = readElf(image.elf, 'm.o');
    const section = (name: string) => {
      const s = elf.sections.find((x) => x.name === name)!;
      return image.elf.subarray(Number(s.offset), Number(s.offset + s.size));
    };
    const fromSections = stackMapsFromImageSections('m', textStart, readModuleMetadata(section(SECTION_MODULE)).functions, readStackMaps(section(SECTION_STACKMAPS)));
    t.deepEqual(fromSections, fromImage);
    const registry = new StackMapRegistry();
    registry.register(fromImage);
    t.true(image.stackMaps.length >= 3);
    for (const m of image.stackMaps) {
      const hit = registry.lookup(textStart + BigInt(m.textReturnOffset))!;
      t.truthy(hit);
      t.is(hit.mappedWords, m.mappedWords);
      t.deepEqual([...hit.bits], m.bitmap);
      t.is(registry.lookup(textStart + BigInt(m.textReturnOffset) - 1n), undefined);
    }
    t.true(image.stackMaps.some((m) => m.bitmap.some((w) => w !== 0)));
  });
}

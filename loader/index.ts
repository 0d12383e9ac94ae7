/**
 * loader/'s public surface: read ELF64 relocatable objects, link them into a `LinkedImage`
 * (a pure value; mapping it into a Machine is a separate, later step), inspect objects the way
 * readelf does, and write objects for the compiler.
 */
export * from './elf.ts';
export * from './reloc-types.ts';
export * from './relocate.ts';
export * from './link.ts';
export * from './inspect.ts';
export * from './elf-writer.ts';
export * from './objdump.ts';

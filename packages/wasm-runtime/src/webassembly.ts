/**
 * The part of the global `WebAssembly` API this package uses. Node has it at runtime; TypeScript
 * declares it only in the DOM and web worker libraries, which a Node project does not load.
 */
declare global {
  // The global API is a namespace; a declaration of it can only be one.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace WebAssembly {
    interface ModuleImportDescriptor {
      module: string;
      name: string;
      kind: 'function' | 'table' | 'memory' | 'global';
    }
    interface ModuleExportDescriptor {
      name: string;
      kind: 'function' | 'table' | 'memory' | 'global';
    }
    class Module {
      constructor(bytes: BufferSource);
      static imports(module: Module): ModuleImportDescriptor[];
      static exports(module: Module): ModuleExportDescriptor[];
      static customSections(module: Module, name: string): ArrayBuffer[];
    }
    type ImportValue = ((...args: never[]) => unknown) | Memory;
    type Imports = Record<string, Record<string, ImportValue>>;
    class Instance {
      constructor(module: Module, imports?: Imports);
      readonly exports: Record<string, unknown>;
    }
    class Memory {
      constructor(descriptor: { initial: number; maximum?: number });
      readonly buffer: ArrayBuffer;
      grow(delta: number): number;
    }
    class RuntimeError extends Error {}
    class CompileError extends Error {}
    class LinkError extends Error {}
  }
  type BufferSource = ArrayBufferView | ArrayBuffer;
}

export {};

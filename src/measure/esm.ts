/**
 * Loads an ES module from CommonJS. vega and vega-lite are ESM-only (vega with top-level await, so even
 * Node's require(esm) refuses it), and TypeScript compiling to CommonJS rewrites `import()` into
 * `require()`; building the import expression at run time keeps it a real dynamic import.
 */
const dynamicImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

export function importEsm<T>(specifier: string): Promise<T> {
  return dynamicImport(specifier) as Promise<T>;
}

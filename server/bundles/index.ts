/** Signed patch bundles: bundle.json + payload + bundle.sig (see docs/bundles.md). */
export { buildBundle, signBundle, DEFAULT_MAX_FILE_BYTES, type BuiltBundle } from './build.ts';
export type { BundleFile } from './contents.ts';
export { inspectBundle, loadBundle, type BundleInspection, type BundleLoadOptions, type CliOnlyBundleOverrides, type LoadedBundle } from './load.ts';
export { parseManifest, type BundleCheck, type BundleKind, type BundleManifest, type DebPackage, type FileEntry, type LivepatchModule, type LivepatchSpec, type PackagesSpec, type Severity } from './manifest.ts';
export { checkSerial, moduleForBuild, type InstalledSerial, type SerialCheck } from './serial.ts';
export { DEFAULT_KEY_NAME, generateBundleKey, keyIdOf, loadTrustedKeys, type BundleTrust, type SignatureStatus } from './sign.ts';

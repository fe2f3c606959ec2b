/** The PGlite version (`deno.json`'s pin) whose initdb made the image. */
export declare const PGLITE_VERSION: string;
/** `SELECT version()` of that PGlite. */
export declare const SERVER_VERSION: string;
/** SHA-256 of the gzipped tar, hex. */
export declare const SHA256: string;
/** The names at the top of the data folder. */
export declare const TOP_LEVEL: readonly string[];
/** The gzipped tar of the data folder, base64. */
export declare const IMAGE: string;

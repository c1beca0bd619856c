/** Bulwark's version; the build stamps the runtime artifact with it. */
export const VERSION = '0.1.0';

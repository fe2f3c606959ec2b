/** The version of strata. */
export const VERSION = "0.1.0";

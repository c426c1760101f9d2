/* The example shared library: a process that maps it (LD_PRELOAD) keeps the old copy after an
 * update, which fleetpatch must report. */
const char *fp_demo_lib_version(void) { return "@VERSION@"; }

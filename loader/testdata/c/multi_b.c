long shared_scale = 1;
static long calls;
long helper(long x, long y) { calls++; return x * shared_scale + y + calls; }

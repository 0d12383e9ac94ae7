/* Buffers on the stack, bulk initialisation and copies the compiler may turn into
   memset/memcpy calls (the sandbox provides those as host functions). */
struct blob { long words[24]; char tag[16]; };
static struct blob saved;
long entry(long a, long b) {
  struct blob local = {0};
  for (int i = 0; i < 24; i++) local.words[i] = a * i ^ b;
  for (int i = 0; i < 15; i++) local.tag[i] = (char)('a' + ((a + i) % 26));
  saved = local;
  long s = 0;
  for (int i = 0; i < 24; i++) s += saved.words[i] * (i + 1);
  for (int i = 0; saved.tag[i]; i++) s += saved.tag[i];
  return s;
}

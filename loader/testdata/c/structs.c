/* Structs through pointers: a linked list built in static storage, and struct copies. */
struct node { long value; struct node *next; struct { int lo, hi; } range; };
static struct node pool[16];
static long walk(const struct node *n) {
  long s = 0;
  for (; n; n = n->next) s = s * 3 + n->value + n->range.hi - n->range.lo;
  return s;
}
long entry(long a, long b) {
  struct node *head = 0;
  for (int i = 0; i < 16; i++) {
    struct node tmp = {a * i + b, head, {i, (int)(b & 0xff)}};
    pool[i] = tmp;
    head = &pool[i];
  }
  struct node copy = pool[(a & 7) + 3];
  copy.value += 1000;
  return walk(head) ^ walk(&copy);
}

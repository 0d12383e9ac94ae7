/*
 * stackscope's native helper for Unicorn 2.0.1: the block hook and the inline block counters
 * that stand in for it, two fixes to how 2.0.1 handles guest stores, exact fault PCs and
 * contained aborts (the later sections of this file).
 *
 * Why a native hook: any per-block callback into JavaScript caps emulation near 17 MIPS, while
 * a C block hook keeps it near 1,000–1,800 MIPS (50–83 % of bare Unicorn on a loop of
 * 3-instruction blocks, bench/timing; a block hook is a call out of every translated block).
 * It gives the engine an exact instruction count, an instruction budget and a wall-clock
 * timeout (Unicorn's own `count` argument is not used: one run in count mode leaves 2.0.1
 * flushing its translation cache on every later uc_emu_start, and its `timeout` spawns a
 * thread per call), plus per-block execution counts for the cycle model.
 *
 * The hook knows a block by its start address and byte size. The first time it meets a block
 * it stops emulation *before* the block runs (a stop requested from a block hook takes
 * effect before that block's first instruction) and reports the block; the host decodes it,
 * registers its instruction count with ss_set_block and resumes at the same address.
 *
 * The shared state block is host memory (a Node Buffer) that both sides read and write
 * directly; its layout is mirrored in simulator/unicorn.ts.
 *
 * Speed: where Unicorn 2.0.1 allows it (the usual case), blocks are not counted by this hook
 * at all but by a few instructions generated into each translated block — an inline counter
 * (see on_block_slot and "Counting in the translated code" at the end), which calls out only
 * when the block's grant of the budget is used up or the block is new. Otherwise every block
 * calls on_block. Either way the per-block work has exactly one read-modify-write chain — a
 * value stored by one execution and loaded again by the next waits for store-to-load
 * forwarding — the executions left in the block's current grant (a share of the budget handed
 * out in the slow path, where the clock is also read), counted down. It is also the block's
 * count: executions = granted - remaining. In on_block, a direct-mapped cache of recently
 * entered blocks replaces hashing, and its empty slots point at a block that matches nothing,
 * so the path has no null check; the common case is about a dozen instructions. Totals
 * (instructions, blocks, cost) are computed from the per-block counts when the host asks
 * (ss_sync_out).
 *
 * Budget accounting: budget = executed + Σ remaining × icount + reserve, where a block's
 * remaining executions may be held in part by the slots of its inline counters (given back
 * before anything reads them: flush_slots). A block whose grant is
 * used up asks for a new one from the reserve (growing geometrically up to GRANT_MAX_INSNS
 * instructions, at most half the reserve); when the reserve cannot pay for one execution, the
 * unused grants of every block are taken back first, so a run stops exactly at the first
 * block that does not fit in the budget.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>

enum { REASON_NONE = 0, REASON_NEW_BLOCK = 1, REASON_BUDGET = 2, REASON_TIMEOUT = 3, REASON_TRACE_FULL = 4 };

typedef struct {
  uint64_t instructions; /* executed instructions, exact */
  uint64_t blocks;       /* executed blocks */
  uint64_t budget;       /* instructions allowed in total; UINT64_MAX = no budget */
  int64_t deadline_ns;   /* CLOCK_MONOTONIC deadline; 0 = no timeout */
  uint64_t new_address;  /* REASON_NEW_BLOCK: the block to describe */
  uint32_t new_size;
  uint32_t reason;       /* why the hook stopped emulation; the host clears it */
  uint64_t cost_milli;   /* sum of registered block costs (cycle model), in 1/1000 cycle */
  uint64_t last_address; /* the block entered last, so a fault inside it can be credited exactly */
  uint32_t last_size;
  uint32_t last_icount;
  uint64_t interrupt;    /* 1 + the interrupt that stopped the run (ss_stop_on_interrupts); 0: none */
} shared_state;

typedef struct {
  uint64_t address;
  uint32_t size;
  uint32_t icount;
  uint64_t cost_milli;
  uint64_t remaining; /* executions left in its current grant */
  uint64_t granted;   /* executions granted since the last reset: executions = granted - remaining */
  uint64_t grant;     /* size of its last grant, in executions */
  uint64_t touched;   /* listed in ctx->touched (granted since the last reset) */
} block_entry;

static inline uint64_t executions(const block_entry *e) {
  return e->granted - e->remaining;
}

enum { RECENT = 256 };

/* A range of known code (see "Known code" below). */
typedef struct known_code {
  uint64_t lo, hi;
  uint8_t *flags; /* hi - lo bytes */
} known_code;


typedef struct {
  shared_state *state;
  block_entry *table; /* open addressing, linear probing; address 0 marks an empty slot */
  uint64_t capacity;  /* power of two */
  uint64_t used;
  uint32_t max_size;  /* the largest block size ever registered (bounds ss_forget_range's probes) */
  int64_t deadline_ns;           /* copy of the state's, taken by ss_sync_in */
  int budgeted;                  /* the budget is finite */
  uint64_t reserve;              /* budget instructions granted to no block */
  uint64_t slow_paths;           /* grants since ss_sync_in, for spacing out clock reads */
  uint64_t retired_blocks;       /* executions of blocks forgotten or re-registered since the reset */
  uint64_t retired_instructions;
  uint64_t retired_cost;
  /* The block entered last, or NULL: a block_entry, or (low bit set) the block_slot of an
   * inline counter, which stores its own address there (see last_entry). */
  uintptr_t last;
  /* The entries granted executions since the last reset: the per-call work (reset, sync in and
   * out) walks these rather than the whole table, so it costs what the call ran. */
  block_entry **touched;
  uint64_t ntouched, touched_capacity;
  block_entry *recent[RECENT];   /* direct-mapped shortcut into the table; unused while tracing */
  struct slot_chunk *slots;      /* counters of translated blocks that count inline (below) */
  /* The slots that may hold executions of their block's grant (see hold_slot); every reader
   * of a block's count gives them back to their blocks first (flush_slots). */
  struct block_slot **holding;
  uint64_t nholding, holding_capacity;
  /* Trace for the cycle model's detailed mode (host memory; NULL when off): entered blocks
   * as their address, data accesses as -(size * 2 + is_write + 1) followed by the address.
   * Doubles, so the host reads them without 64-bit integer conversions (guest addresses are
   * far below 2^53). */
  double *trace;
  uint32_t trace_capacity;
  uint32_t trace_length;
  uint64_t trace_dropped;        /* accesses that found the trace full */
  struct known_code *known;      /* code the host described in advance, by address (ss_code_add) */
  uint64_t nknown, known_capacity;
  struct insert_answer *answer;  /* a host function answered without a stop (see on_interrupt), or NULL */
} ctx_t;

/* A grant covers at most this many instructions, so a block running without end comes back to
 * the slow path (and the clock) every few tens of microseconds. */
enum { GRANT_MAX_INSNS = 1 << 16, FIRST_GRANT = 16, CLOCK_EVERY = 8 };

/* What an empty recent-block slot points to: it matches no block (none starts at address 0)
 * and has no executions left, so the per-block path needs no null check. */
static block_entry no_block;

static void unbind_slots(ctx_t *c);
static void flush_slots(ctx_t *c);
static block_entry *describe_known(ctx_t *c, uint64_t address, uint32_t size);
static void tlb_check(uc_engine *uc);
static block_entry *last_entry(ctx_t *c);

/* Forgets every shortcut into the table (entries moved, changed, or tracing started). */
static void clear_recent(ctx_t *c) {
  for (int i = 0; i < RECENT; i++) c->recent[i] = &no_block;
  unbind_slots(c);
}

/* Slots a block may need for its own accesses; a block starts only with this much room. */
enum { TRACE_HEADROOM = 2 * 1024 + 1 };

static uint64_t slot_of(uint64_t address, uint64_t capacity) {
  uint64_t h = address * 0x9E3779B97F4A7C15ull;
  return (h >> 17) & (capacity - 1);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static block_entry *find(ctx_t *c, uint64_t address) {
  uint64_t i = slot_of(address, c->capacity);
  for (;;) {
    block_entry *e = &c->table[i];
    if (e->address == address) return e;
    if (e->address == 0) return NULL;
    i = (i + 1) & (c->capacity - 1);
  }
}

static uint32_t recent_slot(uint64_t address) {
  return (uint32_t)((address ^ (address >> 8)) & (RECENT - 1));
}

/* Entries moved: pointers into the table are stale; find the last block again (by the
 * address it had before the move). */
static void table_moved(ctx_t *c, uint64_t last_address) {
  clear_recent(c);
  if (!(c->last & 1)) c->last = last_address ? (uintptr_t)find(c, last_address) : 0;
  c->ntouched = 0;
  for (uint64_t i = 0; i < c->capacity; i++) {
    if (c->table[i].touched) c->touched[c->ntouched++] = &c->table[i];
  }
}

/* Lists an entry among those the per-call work walks; false when out of memory. */
static bool touch(ctx_t *c, block_entry *e) {
  if (e->touched) return true;
  if (c->ntouched == c->touched_capacity) {
    uint64_t cap = c->touched_capacity ? c->touched_capacity * 2 : 64;
    block_entry **t = realloc(c->touched, cap * sizeof *t);
    if (!t) return false;
    c->touched = t;
    c->touched_capacity = cap;
  }
  c->touched[c->ntouched++] = e;
  e->touched = 1;
  return true;
}

/* The address of the block entered last if c->last points into the table (whose entries are
 * about to move), else 0. */
static uint64_t last_in_table(ctx_t *c) {
  return c->last && !(c->last & 1) ? ((block_entry *)c->last)->address : 0;
}

static int grow(ctx_t *c) {
  flush_slots(c); /* slots point into the table */
  uint64_t last_address = last_in_table(c);
  uint64_t cap = c->capacity * 2;
  block_entry *t = calloc(cap, sizeof(block_entry));
  if (!t) return -1;
  for (uint64_t i = 0; i < c->capacity; i++) {
    block_entry *e = &c->table[i];
    if (e->address == 0) continue;
    uint64_t j = slot_of(e->address, cap);
    while (t[j].address != 0) j = (j + 1) & (cap - 1);
    t[j] = *e;
  }
  free(c->table);
  c->table = t;
  c->capacity = cap;
  table_moved(c, last_address);
  return 0;
}

/* The rare paths live out of line, so the per-block path stays short. */
static __attribute__((noinline, cold)) void stop_for(uc_engine *uc, shared_state *s, uint32_t reason) {
  s->reason = reason;
  uc_emu_stop(uc);
}

static __attribute__((noinline, cold)) void stop_new_block(uc_engine *uc, shared_state *s, uint64_t address, uint32_t size) {
  s->new_address = address;
  s->new_size = size;
  stop_for(uc, s, REASON_NEW_BLOCK);
}

static __attribute__((noinline)) int deadline_passed(ctx_t *c) {
  return now_ns() >= c->deadline_ns;
}

/* A block missing from the recent-block cache: look it up, or stop to have it described. */
static __attribute__((noinline)) block_entry *lookup(uc_engine *uc, ctx_t *c, uint64_t address, uint32_t size) {
  block_entry *e = address ? find(c, address) : NULL;
  if (!e || e->size != size) {
    e = c->nknown ? describe_known(c, address, size) : NULL;
    if (!e) stop_new_block(uc, c->state, address, size);
  }
  return e;
}

/* Takes every block's unused grant back into the reserve. */
static void reclaim(ctx_t *c) {
  flush_slots(c);
  for (uint64_t i = 0; i < c->ntouched; i++) {
    block_entry *e = c->touched[i];
    if (e->remaining == 0) continue;
    c->reserve += e->remaining * e->icount;
    e->granted -= e->remaining;
    e->remaining = 0;
  }
}

/* Gives `e` (whose grant is used up) room for at least one more execution; false when the
 * budget has no room for it. */
static bool grant(ctx_t *c, block_entry *e) {
  if (!touch(c, e)) return false;
  uint64_t want = e->grant ? e->grant * 2 : FIRST_GRANT;
  uint64_t most = e->icount ? GRANT_MAX_INSNS / e->icount : GRANT_MAX_INSNS;
  if (most == 0) most = 1;
  if (want > most) want = most;
  if (c->budgeted) {
    uint64_t need = e->icount ? e->icount : 1;
    if (c->reserve < need) reclaim(c);
    if (c->reserve < need) return false;
    uint64_t room = c->reserve / need;
    uint64_t half = room / 2 ? room / 2 : 1;
    if (want > half) want = half;
    c->reserve -= want * e->icount;
  }
  e->grant = want;
  e->remaining = want;
  e->granted += want;
  return true;
}

/* Records a block in the trace; false when the trace is full (emulation stops to drain it). */
static __attribute__((noinline)) bool trace_block(uc_engine *uc, ctx_t *c, uint64_t address) {
  if (c->trace_length + TRACE_HEADROOM > c->trace_capacity) {
    c->state->new_address = address; /* where the host resumes after reading the trace */
    stop_for(uc, c->state, REASON_TRACE_FULL);
    return false;
  }
  c->trace[c->trace_length++] = (double)address;
  return true;
}

/* The complete per-block logic; on_block takes a shortcut for the common case. `*bind` is
 * where a shortcut to the block may be kept (a recent-block slot, or an inline counter's
 * binding), NULL-free: &no_block means none. */
static __attribute__((noinline)) block_entry *on_block_full(uc_engine *uc, uint64_t address, uint32_t size, ctx_t *c, block_entry **bind) {
  block_entry *e = *bind;
  if (e == &no_block || e->address != address || e->size != size) {
    e = lookup(uc, c, address, size);
    if (!e) return NULL;
  }
  if (e->remaining == 0) {
    tlb_check(uc);
    if (c->deadline_ns && c->slow_paths++ % CLOCK_EVERY == 0 && deadline_passed(c)) {
      stop_for(uc, c->state, REASON_TIMEOUT);
      return NULL;
    }
    if (!grant(c, e)) {
      stop_for(uc, c->state, REASON_BUDGET);
      return NULL;
    }
  }
  if (c->trace) {
    if (!trace_block(uc, c, address)) return NULL;
  } else {
    *bind = e;
  }
  e->remaining -= 1;
  c->last = (uintptr_t)e;
  return e;
}

/* The per-block path. The shortcut (a recent block with executions left in its grant) makes
 * no calls, so it saves no registers, and has one read-modify-write: the countdown. Anything
 * else goes the full way (while tracing, the recent-block cache stays empty, so every block
 * does). */
static void on_block(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
  ctx_t *c = user;
  block_entry *e = c->recent[recent_slot(address)];
  uint64_t left;
  if (__builtin_expect(e->address == address && e->size == size && !__builtin_sub_overflow(e->remaining, 1, &left), 1)) {
    e->remaining = left;
    c->last = (uintptr_t)e;
    return;
  }
  on_block_full(uc, address, size, c, &c->recent[recent_slot(address)]);
}

/*
 * Inline counters. Where Unicorn 2.0.1 allows it, the per-block path above is not called at
 * all: the code Unicorn translates for each block counts the block itself (see "Counting in
 * the translated code" at the end of this file). Each translation gets a slot, which the
 * translated code uses as follows on every execution:
 *
 *     r = slot->left - 1; slot->left = r; ctx->last = slot | 1;
 *     if (r == UINT64_MAX) on_block_slot(slot);      (the count was 0)
 *
 * `left` is a share of its block's grant that the slot holds: on_block_slot counts the
 * execution the full way (on_block_full, against the block's entry) and then moves what is
 * left of the entry's grant into the slot (hold_slot), so the next executions count down the
 * slot alone — one word the translated code reaches from a register it already holds (the
 * CPU state's, where the slot lies close enough) and with no pointer to follow. Whatever
 * reads or changes a block's count (totals, budget, reclaiming grants, entries that move or
 * leave) first gives every held share back to its entry (flush_slots), so the accounting above
 * stays that of the entries. A new slot holds nothing and is unbound, so its first execution
 * takes the call, which learns the block and binds the slot; bindings are dropped wherever the
 * recent-block cache is cleared (entries moved or changed, tracing started), and while tracing
 * a slot holds nothing, so every execution takes the call. Slots live until the context is
 * destroyed, since translated code may use them until the engine closes.
 */
typedef struct block_slot {
  uint64_t left;      /* executions of the block's grant held here (counted down inline) */
  block_entry *entry; /* the block it counts, or &no_block */
  uint64_t address;   /* the block, taken from its translation block by the first call (the */
  uint32_t size;      /* size is known only once the block is translated); size 0: not yet */
  uint32_t holding;   /* listed in ctx->holding */
  ctx_t *ctx;
} block_slot;

enum { SLOTS_PER_CHUNK = 255 };

typedef struct slot_chunk {
  struct slot_chunk *next;
  uint64_t used;
  block_slot slots[SLOTS_PER_CHUNK];
} slot_chunk;

static block_slot *new_slot(ctx_t *c) {
  slot_chunk *k = c->slots;
  if (!k || k->used == SLOTS_PER_CHUNK) {
    k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->next = c->slots;
    c->slots = k;
  }
  block_slot *slot = &k->slots[k->used++];
  slot->entry = &no_block;
  slot->ctx = c;
  return slot;
}

/* Gives every share slots hold back to their blocks' entries. */
static void flush_slots(ctx_t *c) {
  for (uint64_t i = 0; i < c->nholding; i++) {
    block_slot *slot = c->holding[i];
    slot->entry->remaining += slot->left;
    slot->left = 0;
    slot->holding = 0;
  }
  c->nholding = 0;
}

/* Moves what is left of the grant of `e` (the slot's block, just counted) into the slot. If
 * the slot cannot be listed (out of memory) it holds nothing: every execution calls. */
static void hold_slot(ctx_t *c, block_slot *slot, block_entry *e) {
  if (!slot->holding) {
    if (c->nholding == c->holding_capacity) {
      uint64_t cap = c->holding_capacity ? c->holding_capacity * 2 : 64;
      block_slot **h = realloc(c->holding, cap * sizeof *h);
      if (!h) return;
      c->holding = h;
      c->holding_capacity = cap;
    }
    c->holding[c->nholding++] = slot;
    slot->holding = 1;
  }
  slot->left += e->remaining;
  e->remaining = 0;
}

static void unbind_slots(ctx_t *c) {
  flush_slots(c);
  for (slot_chunk *k = c->slots; k; k = k->next)
    for (uint64_t i = 0; i < k->used; i++) k->slots[i].entry = &no_block;
}

static void free_slots(ctx_t *c) {
  while (c->slots) {
    slot_chunk *k = c->slots;
    c->slots = k->next;
    free(k);
  }
  free(c->holding);
  c->holding = NULL;
  c->nholding = c->holding_capacity = 0;
}

/* The block entered last (see ctx_t.last), or NULL. */
static block_entry *last_entry(ctx_t *c) {
  if (c->last & 1) {
    block_slot *slot = (block_slot *)(c->last & ~(uintptr_t)1);
    if (slot->size == 0) return NULL;
    block_entry *e = find(c, slot->address);
    return e && e->size == slot->size ? e : NULL;
  }
  block_entry *e = (block_entry *)c->last;
  return e == &no_block ? NULL : e;
}

static bool slot_block(uc_engine *uc, block_slot *slot, uintptr_t host_pc);
static void learn_env(uc_engine *uc, uintptr_t env);
static void leave_block(uc_engine *uc, uintptr_t host_pc);

/* The call an inline counter makes when its slot holds no more executions (it has the shape
 * of a block hook: the engine, the value of the CPU state pointer the translated code holds,
 * and the slot). The first call learns the block's address and size from the translation
 * block it is called from. When it stops the run (a new block, the budget, the timeout, a
 * full trace) it leaves the block before the block's first instruction itself, since the
 * block may have been translated without Unicorn's exit check at its start (see "Counting in
 * the translated code"). */
static __attribute__((noinline)) void on_block_slot(uc_engine *uc, uint64_t env, uint32_t size, void *user) {
  (void)size;
  block_slot *slot = user;
  slot->left = 0; /* the translated code counted it down from 0 */
  if (slot->size == 0) {
    if (!slot_block(uc, slot, (uintptr_t)__builtin_return_address(0))) {
      fprintf(stderr, "stackscope: an inline block counter was called from outside translated code\n");
      abort();
    }
    learn_env(uc, (uintptr_t)env);
  }
  ctx_t *c = slot->ctx;
  block_entry *e = on_block_full(uc, slot->address, slot->size, c, &slot->entry);
  if (!e) leave_block(uc, (uintptr_t)__builtin_return_address(0));
  else if (!c->trace) hold_slot(c, slot, e);
}

static bool on_access(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value, void *user) {
  ctx_t *c = user;
  (void)uc;
  (void)value;
  if (!c->trace) return true;
  if (c->trace_length + 2 > c->trace_capacity) {
    c->trace_dropped++;
    return true;
  }
  c->trace[c->trace_length] = -(double)(size * 2 + (type == UC_MEM_WRITE) + 1);
  c->trace[c->trace_length + 1] = (double)address;
  c->trace_length += 2;
  return true;
}

/* Starts (trace != NULL) or stops recording blocks into `trace`; with `accesses`, also adds a
 * hook recording data reads and writes (its handle in *out, to delete when tracing stops). */
int ss_trace(uc_engine *uc, void *ctx, double *trace, uint32_t capacity, int accesses, uc_hook *out) {
  ctx_t *c = ctx;
  c->trace = capacity > TRACE_HEADROOM ? trace : NULL;
  c->trace_capacity = capacity;
  c->trace_length = 0;
  c->trace_dropped = 0;
  clear_recent(c); /* every block takes the full path while tracing */
  if (!accesses) return 0;
  return uc_hook_add(uc, out, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, (void *)on_access, ctx, 1, 0);
}

/* Entries recorded since the last call (the host has read them); resets the trace. */
uint32_t ss_trace_take(void *ctx) {
  ctx_t *c = ctx;
  uint32_t n = c->trace_length;
  c->trace_length = 0;
  return n;
}

uint64_t ss_trace_dropped(void *ctx) {
  return ((ctx_t *)ctx)->trace_dropped;
}

/* Takes the budget and deadline the host wrote into the state: every grant is withdrawn and
 * the reserve is what the budget leaves after the instructions executed since the reset. */
void ss_sync_in(void *ctx) {
  ctx_t *c = ctx;
  shared_state *s = c->state;
  flush_slots(c);
  uint64_t done = c->retired_instructions;
  for (uint64_t i = 0; i < c->ntouched; i++) {
    block_entry *e = c->touched[i];
    e->granted -= e->remaining; /* now the block's executions */
    e->remaining = 0;
    e->grant = 0;
    done += e->granted * e->icount;
  }
  c->budgeted = s->budget != UINT64_MAX;
  c->reserve = c->budgeted && s->budget > done ? s->budget - done : 0;
  c->deadline_ns = s->deadline_ns;
  c->slow_paths = 0;
}

/* Writes the totals (instructions, blocks, cost, last block) into the state for the host. */
void ss_sync_out(void *ctx) {
  ctx_t *c = ctx;
  shared_state *s = c->state;
  flush_slots(c);
  uint64_t blocks = c->retired_blocks, cost = c->retired_cost, instructions = c->retired_instructions;
  for (uint64_t i = 0; i < c->ntouched; i++) {
    block_entry *e = c->touched[i];
    uint64_t n = executions(e);
    if (n == 0) continue;
    blocks += n;
    instructions += n * e->icount;
    cost += n * e->cost_milli;
  }
  s->instructions = instructions;
  s->blocks = blocks;
  s->cost_milli = cost;
  block_entry *last = last_entry(c);
  s->last_address = last ? last->address : 0;
  s->last_size = last ? last->size : 0;
  s->last_icount = last ? last->icount : 0;
}

void *ss_create(void *state) {
  ctx_t *c = calloc(1, sizeof(ctx_t));
  if (!c) return NULL;
  c->capacity = 1024;
  c->table = calloc(c->capacity, sizeof(block_entry));
  if (!c->table) { free(c); return NULL; }
  c->state = state;
  clear_recent(c);
  ss_sync_in(c);
  return c;
}

void ss_destroy(void *ctx) {
  ctx_t *c = ctx;
  if (!c) return;
  free_slots(c);
  for (uint64_t i = 0; i < c->nknown; i++) free(c->known[i].flags);
  free(c->known);
  free(c->touched);
  free(c->table);
  free(c);
}

/*
 * Answering insertions during a sweep. While a collection of the v17 runtime sweeps, the
 * activations table's bump finger is parked at its end, so every externref a destructor's
 * re-entered Wasm reads takes the `activations_table_insert_with_gc` libcall; when the object
 * is already in the over-approximated set and the collection it would ask for returns early,
 * the libcall changes nothing (ActivationsTable.insertWithGcIsNoop in gc/activations.ts).
 * Fuzz programs make hundreds of these per program. This hook answers them where the run is,
 * without stopping it: the host keeps the answer block below up to date (the libcall's gateway
 * stub; `armed` while a collection runs with GC allowed; the set's mark bit; the heap's flag
 * bytes, one per 8-byte granule with bit 0 = live; a view of the table's next/end/length
 * words in guest memory), and the hook answers only when everything the host's own check
 * reads says "no-op": armed, the finger inside the chunk, slot-aligned, at its end and the end
 * where the chunk's length puts it (a table the check would reject goes to the host, which
 * reports it), on AArch64 an aligned SP (the gateway traps otherwise), and the object live
 * and marked. Anything else stops the run as before and the host decides. An answer does what
 * the host's resumption would: the result register (void: 0) is zeroed and the run goes on at
 * the stub's `ret` (x86-64 leaves the PC there after `int3`; on AArch64 the PC write makes
 * Unicorn leave and re-enter its CPU loop within the same run). The blocks run are the same
 * as through the host (the trap's block, then the `ret`'s), so instruction counts do not
 * change; `answered` tells the host how many calls it did not see, which it adds to its
 * accounting of the gateway's instructions and of host calls.
 */
enum { ANSWER_ARENAS = 64 };
typedef struct insert_answer {   /* host memory; layout mirrored in simulator/unicorn.ts */
  uint64_t stub;                 /* the gateway stub's trap instruction */
  uint64_t chunk_base;           /* guest address of the chunk's first slot */
  uint64_t chunk_capacity;       /* its slots */
  uint32_t armed;                /* answering allowed (the host's conditions beyond the table) */
  uint32_t mark;                 /* the over-approximated set's mark bit; 0: none */
  uint64_t answered;             /* calls answered; the host takes and clears it */
  uint32_t arch;                 /* 0: x86-64, 1: AArch64 */
  uint32_t narenas;
  const uint8_t *table;          /* host view of the table struct: next +0, end +8, length +24 */
  struct { uint64_t base, end; const uint8_t *flags; } arenas[ANSWER_ARENAS];
} insert_answer;

static uint64_t read_u64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static __attribute__((noinline)) bool answer_insertion(uc_engine *uc, insert_answer *a, uint32_t intno) {
  const bool arm = a->arch == 1;
  if (intno != (arm ? 7u : 3u)) return false;
  int ids[3] = { arm ? UC_ARM64_REG_PC : UC_X86_REG_RIP, arm ? UC_ARM64_REG_X1 : UC_X86_REG_RSI, arm ? UC_ARM64_REG_SP : UC_X86_REG_RSP };
  uint64_t pc = 0, ref = 0, sp = 0;
  void *vals[3] = { &pc, &ref, &sp };
  if (uc_reg_read_batch(uc, ids, vals, 3) != UC_ERR_OK) return false;
  if (pc - (arm ? 0 : 1) != a->stub) return false;
  if (arm && (sp & 15) != 0) return false;
  uint64_t next = read_u64(a->table), end = read_u64(a->table + 8), len = read_u64(a->table + 24);
  if (len > a->chunk_capacity || end != a->chunk_base + len * 8) return false;
  if (next < a->chunk_base || next > end || ((next - a->chunk_base) & 7) != 0 || next != end) return false;
  if (ref != 0) {
    uint32_t i = 0;
    while (i < a->narenas && !(ref >= a->arenas[i].base && ref + 8 <= a->arenas[i].end && ref + 8 > ref)) i++;
    if (i == a->narenas || ((ref - a->arenas[i].base) & 7) != 0) return false;
    uint8_t flags = a->arenas[i].flags[(ref - a->arenas[i].base) >> 3];
    if ((flags & 1) == 0 || (flags & a->mark) == 0) return false;
  }
  uint64_t zero = 0, resume = a->stub + 4;
  if (arm) {
    int wids[2] = { UC_ARM64_REG_X0, UC_ARM64_REG_PC };
    void *wvals[2] = { &zero, &resume };
    if (uc_reg_write_batch(uc, wids, wvals, 2) != UC_ERR_OK) return false;
  } else if (uc_reg_write(uc, UC_X86_REG_RAX, &zero) != UC_ERR_OK) {
    return false;
  }
  a->answered++;
  return true;
}

/* Stops the run at any interrupt (CPU exception: a trap instruction, an undefined one...) and
 * records its number in the state, with no callback into the host; the one host function the
 * helper answers itself (above) goes on without a stop. */
static void on_interrupt(uc_engine *uc, uint32_t intno, void *user) {
  ctx_t *c = user;
  insert_answer *a = c->answer;
  if (a && a->armed && answer_insertion(uc, a, intno)) return;
  c->state->interrupt = (uint64_t)intno + 1;
  uc_emu_stop(uc);
}

/* Answers insertions for this counter's engine from `answer` (host memory, kept alive by the
 * host; NULL: none), whose table view is `table`. */
void ss_answer_insertions(void *ctx, insert_answer *answer, const uint8_t *table) {
  if (answer) answer->table = table;
  ((ctx_t *)ctx)->answer = answer;
}

/* Adds an arena of the heap's flag bytes (host memory, kept alive by the host); -1 when full. */
int ss_answer_arena(insert_answer *answer, uint64_t base, uint64_t end, const uint8_t *flags) {
  if (answer->narenas >= ANSWER_ARENAS) return -1;
  answer->arenas[answer->narenas].base = base;
  answer->arenas[answer->narenas].end = end;
  answer->arenas[answer->narenas].flags = flags;
  answer->narenas++;
  return 0;
}

int ss_stop_on_interrupts(uc_engine *uc, void *ctx, uc_hook *out) {
  return uc_hook_add(uc, out, UC_HOOK_INTR, (void *)on_interrupt, ctx, 1, 0);
}

/* Adds the block hook over the whole address space; returns a uc_err. */
int ss_install(uc_engine *uc, void *ctx, uc_hook *out) {
  return uc_hook_add(uc, out, UC_HOOK_BLOCK, (void *)on_block, ctx, 1, 0);
}

/* A block hook that does nothing, for bench/timing: the price of any per-block callback. */
static void on_block_noop(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
  (void)uc;
  (void)address;
  (void)size;
  (void)user;
}

int ss_install_noop(uc_engine *uc, uc_hook *out) {
  return uc_hook_add(uc, out, UC_HOOK_BLOCK, (void *)on_block_noop, NULL, 1, 0);
}

/* A block leaves the table (or starts over as new code): keep its executions in the totals and
 * give its unused grant back. */
static void retire(ctx_t *c, block_entry *e) {
  uint64_t n = executions(e);
  c->retired_blocks += n;
  c->retired_instructions += n * e->icount;
  c->retired_cost += n * e->cost_milli;
  if (c->budgeted) c->reserve += e->remaining * e->icount;
  e->remaining = 0;
  e->granted = 0;
  e->grant = 0;
}

/* Registers (or re-registers, after code changed) a block; returns 0, or -1 on no memory. */
int ss_set_block(void *ctx, uint64_t address, uint32_t size, uint32_t icount, uint64_t cost_milli) {
  ctx_t *c = ctx;
  if (address == 0) return -1;
  block_entry *e = find(c, address);
  if (!e) {
    if ((c->used + 1) * 2 > c->capacity && grow(c) != 0) return -1;
    uint64_t i = slot_of(address, c->capacity);
    while (c->table[i].address != 0) i = (i + 1) & (c->capacity - 1);
    e = &c->table[i];
    e->address = address;
    e->remaining = 0;
    e->granted = 0;
    e->grant = 0;
    c->used++;
  } else {
    /* New code at a known address: its executions so far stay in the totals, its unused
     * grant goes back to the reserve. Inline counters bound to it may belong to a translation
     * of the old size: they look the block up again. */
    flush_slots(c);
    retire(c, e);
    unbind_slots(c);
  }
  e->size = size;
  e->icount = icount;
  e->cost_milli = cost_milli;
  if (size > c->max_size) c->max_size = size;
  return 0;
}

/* Zeroes every block's execution count and the retired totals (the host zeroes the state's
 * instruction count and calls ss_sync_in). */
void ss_reset_counts(void *ctx) {
  ctx_t *c = ctx;
  flush_slots(c);
  for (uint64_t i = 0; i < c->ntouched; i++) {
    block_entry *e = c->touched[i];
    e->remaining = 0;
    e->granted = 0;
    e->grant = 0;
    e->touched = 0;
  }
  c->ntouched = 0;
  c->retired_blocks = 0;
  c->retired_instructions = 0;
  c->retired_cost = 0;
  c->last = 0;
}

/* Forgets every block that overlaps [lo, hi): their code was rewritten. */
/* Whether a registered block overlaps [lo, hi): by looking up every address a block
 * overlapping it could start at when there are fewer of those than table slots, else by a
 * pass over the table. */
static bool overlaps_range(ctx_t *c, uint64_t lo, uint64_t hi) {
  if (hi <= lo || c->used == 0) return false;
  uint64_t first = lo > c->max_size ? lo - c->max_size + 1 : 1;
  if (hi - first < c->capacity) {
    for (uint64_t a = first; a < hi; a++) {
      block_entry *e = find(c, a);
      if (e && a + e->size > lo) return true;
    }
    return false;
  }
  for (uint64_t i = 0; i < c->capacity; i++) {
    block_entry *e = &c->table[i];
    if (e->address != 0 && e->address < hi && e->address + e->size > lo) return true;
  }
  return false;
}

void ss_forget_range(void *ctx, uint64_t lo, uint64_t hi) {
  ctx_t *c = ctx;
  /* New code is mostly placed where none ran before (a fuzz campaign places trampolines for
   * every program): then there is nothing to forget, and the rebuild below, which also unbinds
   * every inline counter, is skipped. */
  if (!overlaps_range(c, lo, hi)) return;
  flush_slots(c); /* slots point into the table */
  uint64_t last_address = last_in_table(c);
  block_entry *old = c->table;
  uint64_t cap = c->capacity;
  block_entry *t = calloc(cap, sizeof(block_entry));
  if (!t) return;
  c->table = t;
  c->used = 0;
  for (uint64_t i = 0; i < cap; i++) {
    block_entry *e = &old[i];
    if (e->address == 0) continue;
    if (e->address < hi && e->address + e->size > lo) {
      retire(c, e);
      continue;
    }
    uint64_t j = slot_of(e->address, cap);
    while (t[j].address != 0) j = (j + 1) & (cap - 1);
    t[j] = *e;
    c->used++;
  }
  free(old);
  table_moved(c, last_address);
}

/*
 * Known code: ranges whose instruction boundaries the host knows in advance (code the runtime
 * placed, decoded once at placement), so that a new block inside one is counted here without
 * a stop. One flag byte per code byte: KNOWN_START where an instruction starts, KNOWN_END right
 * after the last instruction of a function, KNOWN_HOST on an instruction the host must see in
 * the block it starts (the sandbox's system instructions
 * and what it watches; see simulator/system.ts placedCodeFlags). A block is described here
 * only when it starts and ends on instruction boundaries and holds no KNOWN_HOST instruction;
 * its count is the number of instructions that start in it, which is what the host's describer
 * would count (the host registers ranges only while it counts with its default describer, so
 * the cost is 0). Anything else stops as before. The host drops a range when the code in it
 * changes (ss_code_forget); ss_forget_range, which only asks for blocks to be counted again
 * (hooks changed), keeps ranges.
 */
enum { KNOWN_START = 1, KNOWN_HOST = 2, KNOWN_END = 8 /* the byte after a function's last instruction */ };

/* The index of the first range whose end is above `address` (ranges are sorted and disjoint). */
static uint64_t known_index(ctx_t *c, uint64_t address) {
  uint64_t lo = 0, hi = c->nknown;
  while (lo < hi) {
    uint64_t mid = (lo + hi) / 2;
    if (c->known[mid].hi <= address) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static block_entry *describe_known(ctx_t *c, uint64_t address, uint32_t size) {
  uint64_t i = known_index(c, address);
  if (i == c->nknown || size == 0) return NULL;
  const known_code *k = &c->known[i];
  if (address < k->lo || address + size > k->hi || address + size < address) return NULL;
  const uint8_t *f = k->flags + (address - k->lo);
  uint64_t end = address + size - k->lo;
  if (!(f[0] & KNOWN_START) || (end < k->hi - k->lo && !(k->flags[end] & (KNOWN_START | KNOWN_END)))) return NULL;
  uint32_t icount = 0;
  for (uint32_t j = 0; j < size; j++) {
    if (f[j] & KNOWN_HOST) return NULL;
    icount += f[j] & KNOWN_START;
  }
  if (ss_set_block(c, address, size, icount, 0) != 0) return NULL; /* the host's path reports it */
  return find(c, address);
}

/* Drops the known ranges that overlap [lo, hi). */
void ss_code_forget(void *ctx, uint64_t lo, uint64_t hi) {
  ctx_t *c = ctx;
  uint64_t n = 0;
  for (uint64_t i = 0; i < c->nknown; i++) {
    known_code k = c->known[i];
    if (k.lo < hi && lo < k.hi) free(k.flags);
    else c->known[n++] = k;
  }
  c->nknown = n;
}

/* Adds a known range of `size` bytes at `address` (the flags are copied; a range it overlaps is
 * dropped); returns 0, or -1 on no memory. */
int ss_code_add(void *ctx, uint64_t address, const uint8_t *flags, uint64_t size) {
  ctx_t *c = ctx;
  if (size == 0 || address + size < address) return 0;
  ss_code_forget(c, address, address + size);
  if (c->nknown == c->known_capacity) {
    uint64_t cap = c->known_capacity ? c->known_capacity * 2 : 16;
    known_code *t = realloc(c->known, cap * sizeof *t);
    if (!t) return -1;
    c->known = t;
    c->known_capacity = cap;
  }
  uint8_t *copy = malloc(size);
  if (!copy) return -1;
  memcpy(copy, flags, size);
  uint64_t i = known_index(c, address);
  memmove(&c->known[i + 1], &c->known[i], (c->nknown - i) * sizeof *c->known);
  c->known[i] = (known_code){ address, address + size, copy };
  c->nknown++;
  return 0;
}

/* Copies up to `max` blocks with a nonzero count as (address, size, icount, count) quads. */
uint64_t ss_dump(void *ctx, uint64_t *out, uint64_t max) {
  ctx_t *c = ctx;
  flush_slots(c);
  uint64_t n = 0;
  for (uint64_t i = 0; i < c->capacity && n < max; i++) {
    block_entry *e = &c->table[i];
    if (e->address == 0 || executions(e) == 0) continue;
    out[4 * n] = e->address;
    out[4 * n + 1] = e->size;
    out[4 * n + 2] = e->icount;
    out[4 * n + 3] = executions(e);
    n++;
  }
  return n;
}

int64_t ss_now_ns(void) { return now_ns(); }

/*
 * Guest stores. Unicorn 2.0.1 never marks a page of guest RAM dirty, so every guest store goes
 * through its slow path, which checks the page for translated code to invalidate. Around that
 * check it builds a "page collection" — a GLib tree of the pages it would lock — and frees it
 * again; page locks are no-ops in Unicorn, so the tree has no effect, but allocating it is most
 * of the cost of a store (measured: a loop with one store per 4 instructions ran at 50 MIPS).
 * These definitions take the place of the library's own: libunicorn calls them through its
 * PLT, and this library is loaded first (simulator/unicorn.ts), so the dynamic linker binds
 * those calls here. The invalidation itself is untouched. ss_page_collections counts the calls,
 * so a test can tell the replacement is in effect. With a libunicorn other than 2.0.x the
 * replacements hand every call to the library's own functions.
 */
static char no_page_collection;
static uint64_t page_collections;

/* The replacements in this file rely on Unicorn 2.0's internals (function signatures, the
 * uc_struct layout); with another version they step aside and Unicorn runs as it is. */
static int unicorn_2_0(void) {
  static int known = -1;
  if (known < 0) {
    unsigned major = 0, minor = 0;
    uc_version(&major, &minor);
    known = major == 2 && minor == 0;
  }
  return known;
}

static void *unicorn_symbol(const char *base, const char *suffix);

typedef void *(*collection_lock_fn)(void *uc, uint64_t start, uint64_t end);
typedef void (*collection_unlock_fn)(void *set);

static void *page_collection_lock(const char *suffix, void *uc, uint64_t start, uint64_t end) {
  if (!unicorn_2_0()) {
    collection_lock_fn own = (collection_lock_fn)unicorn_symbol("page_collection_lock", suffix);
    return own ? own(uc, start, end) : &no_page_collection;
  }
  page_collections++;
  return &no_page_collection;
}

static void page_collection_unlock(const char *suffix, void *set) {
  if (set == &no_page_collection) return;
  collection_unlock_fn own = (collection_unlock_fn)unicorn_symbol("page_collection_unlock", suffix);
  if (own) own(set);
}

void *page_collection_lock_x86_64(void *uc, uint64_t start, uint64_t end) { return page_collection_lock("x86_64", uc, start, end); }
void page_collection_unlock_x86_64(void *set) { page_collection_unlock("x86_64", set); }
void *page_collection_lock_aarch64(void *uc, uint64_t start, uint64_t end) { return page_collection_lock("aarch64", uc, start, end); }
void page_collection_unlock_aarch64(void *set) { page_collection_unlock("aarch64", set); }

uint64_t ss_page_collections(void) { return page_collections; }

/*
 * Stores to data pages. Even without the collection, a store to a page Unicorn 2.0.1 considers
 * clean takes the slow path every time, because nothing ever marks the page dirty (upstream
 * Unicorn later marks pages without executable permission dirty after their first store). The
 * host tells this library which guest ranges are writable and not executable
 * (ss_fast_stores_*; stackscope maps nothing writable and executable at once, and drops
 * translated code when a range loses execute permission), and after Unicorn's own check for
 * translated code in such a page, the replacement below marks the page dirty in the TLB with
 * Unicorn's tlb_set_dirty: later stores to it take the fast path until the TLB entry is
 * refilled. Pages of other ranges (and engines not registered here) keep the slow path.
 *
 * tlb_set_dirty needs the engine's CPU, which the public API does not expose: it is found once
 * per engine in the uc_struct of 2.0.1, as the word five places after the add_inline_hook and
 * del_inline_hook function pointers (whose values the library exports), and accepted only if
 * that object points back to the engine (CPUState's `uc` field). If either check fails, the
 * engine keeps the slow path.
 */
typedef void (*invalidate_fn)(void *uc, void *pages, uint64_t start, int len, uintptr_t retaddr);
typedef void *(*map_ram_fn)(void *uc, void *ram_block, uint64_t addr);
typedef void (*set_dirty_fn)(void *cpu, uint64_t vaddr);
typedef void (*set_page_fn)(void *cpu, uint64_t vaddr, uint64_t paddr, uint32_t attrs, int prot, int mmu_idx, uint64_t size);
typedef void (*ldst_fn)(void *s, void *val, void *addr, uintptr_t idx, int memop);

typedef struct {
  const char *suffix;
  int state; /* 0: not looked up, 1: resolved, -1: unavailable */
  invalidate_fn invalidate;
  map_ram_fn map_ram;
  set_dirty_fn set_dirty;
  set_page_fn set_page;
  void (*tlb_flush)(void *cpu);
  /* guest loads, and the exit check Unicorn generates after each */
  ldst_fn ld_i32, ld_i64, st_i32, st_i64;
  void (*exit_check)(void *s);
  void (*loop_exit)(void *cpu); /* cpu_loop_exit: leaves translated code for the run loop */
  void *restore_state;
  void *add_inline_hook, *del_inline_hook;
  /* TCG code generation (inline block counters) */
  void *(*temp_new)(void *s, int type, bool local);
  void (*temp_free)(void *s, void *temp);
  uintptr_t (*const_i32)(void *s, int32_t value);
  uintptr_t (*const_i64)(void *s, int64_t value);
  void (*op1)(void *s, int opc, uintptr_t a1);
  void (*op3)(void *s, int opc, uintptr_t a1, uintptr_t a2, uintptr_t a3);
  void (*subi_i64)(void *s, uintptr_t ret, uintptr_t arg, int64_t imm);
  void (*brcondi_i64)(void *s, int cond, uintptr_t arg, int64_t imm, void *label);
  void (*brcondi_i32)(void *s, int cond, uintptr_t arg, int32_t imm, void *label);
  void *(*new_label)(void *s);
  void *(*tb_lookup)(void *s, uintptr_t host_pc);
  void *wrapper; /* this library's uc_add_inline_hook_<arch> */
} arch_fns;

void uc_add_inline_hook_x86_64(void *uc, void *hook, void **args, int nargs);
void uc_add_inline_hook_aarch64(void *uc, void *hook, void **args, int nargs);
static arch_fns fns_x86_64 = { .suffix = "x86_64", .wrapper = (void *)uc_add_inline_hook_x86_64 };
static arch_fns fns_aarch64 = { .suffix = "aarch64", .wrapper = (void *)uc_add_inline_hook_aarch64 };

static void *unicorn_symbol(const char *base, const char *suffix) {
  static void *lib;
  if (!lib) lib = dlopen("libunicorn.so.2", RTLD_LAZY | RTLD_NOLOAD);
  if (!lib) return NULL;
  char name[96];
  snprintf(name, sizeof name, "%s_%s", base, suffix);
  return dlsym(lib, name); /* searches libunicorn itself first: its own definition */
}

static int resolve(arch_fns *a) {
  if (a->state == 0) {
    a->invalidate = (invalidate_fn)unicorn_symbol("tb_invalidate_phys_page_fast", a->suffix);
    a->map_ram = (map_ram_fn)unicorn_symbol("qemu_map_ram_ptr", a->suffix);
    a->set_dirty = (set_dirty_fn)unicorn_symbol("tlb_set_dirty", a->suffix);
    a->set_page = (set_page_fn)unicorn_symbol("tlb_set_page_with_attrs", a->suffix);
    a->tlb_flush = unicorn_symbol("tlb_flush", a->suffix);
    a->ld_i32 = (ldst_fn)unicorn_symbol("tcg_gen_qemu_ld_i32", a->suffix);
    a->ld_i64 = (ldst_fn)unicorn_symbol("tcg_gen_qemu_ld_i64", a->suffix);
    a->st_i32 = (ldst_fn)unicorn_symbol("tcg_gen_qemu_st_i32", a->suffix);
    a->st_i64 = (ldst_fn)unicorn_symbol("tcg_gen_qemu_st_i64", a->suffix);
    a->loop_exit = unicorn_symbol("cpu_loop_exit", a->suffix);
    a->exit_check = unicorn_symbol("check_exit_request", a->suffix);
    a->restore_state = unicorn_symbol("cpu_restore_state", a->suffix);
    a->add_inline_hook = unicorn_symbol("uc_add_inline_hook", a->suffix);
    a->del_inline_hook = unicorn_symbol("uc_del_inline_hook", a->suffix);
    a->temp_new = unicorn_symbol("tcg_temp_new_internal", a->suffix);
    a->temp_free = unicorn_symbol("tcg_temp_free_internal", a->suffix);
    a->const_i32 = unicorn_symbol("tcg_const_i32", a->suffix);
    a->const_i64 = unicorn_symbol("tcg_const_i64", a->suffix);
    a->op1 = unicorn_symbol("tcg_gen_op1", a->suffix);
    a->op3 = unicorn_symbol("tcg_gen_op3", a->suffix);
    a->subi_i64 = unicorn_symbol("tcg_gen_subi_i64", a->suffix);
    a->brcondi_i64 = unicorn_symbol("tcg_gen_brcondi_i64", a->suffix);
    a->brcondi_i32 = unicorn_symbol("tcg_gen_brcondi_i32", a->suffix);
    a->new_label = unicorn_symbol("gen_new_label", a->suffix);
    a->tb_lookup = unicorn_symbol("tcg_tb_lookup", a->suffix);
    a->state = a->invalidate ? 1 : -1;
  }
  return a->state;
}

typedef struct { uint64_t guest, size; uintptr_t host; } store_range;

/* What this library knows of one engine (ss_engine_open .. ss_engine_close). */
typedef struct {
  void *uc;
  arch_fns *fns;
  void *cpu;       /* found on first use */
  int cpu_state;   /* 0: not looked for, 1: found, -1: not found */
  uint32_t count, capacity;
  store_range *ranges;
  uint64_t marked;   /* pages marked dirty */
  uint64_t restored; /* faulting accesses whose PC was restored */
  int aborted;       /* Unicorn aborted inside a start (ss_emu_start): unusable */
  char *tcg;         /* its TCG context, found on first use */
  int tcg_state;     /* 0: not looked for, 1: found and checked, -1: not usable */
  int tcg_uc_word;   /* the index of the context's word that points to the engine */
  void *env_temp;    /* the TCG temporary of the CPU state pointer (TCG_AREG0), found on first use */
  int env_temp_state; /* 0: not looked for, 1: found, -1: not found */
  uintptr_t env;     /* that pointer's value, learnt from the first inline counter call; 0: not yet */
  int inline_off;    /* count through the block hook call instead (ss_inline_counting) */
  uint64_t inline_counters; /* blocks translated with an inline counter */
  uint64_t env_counters;    /* ... of which address their count from the CPU state pointer */
  int start_check_pending;  /* a counter was just generated: the block's start check is next */
  uint64_t start_checks_elided; /* blocks translated without the exit check at their start */
  uint64_t fills;          /* TLB entries filled */
  uint64_t fills_at_flush; /* ... when this library last flushed the TLB to let it grow */
  uint64_t tlb_entries;    /* what the TLB is believed to hold (it starts at 256 entries) */
  uint64_t tlb_grown;      /* flushes made to let the TLB grow */
  int memory_hooks;        /* hooks on valid data accesses the host has added (ss_memory_hooks) */
  uint64_t exit_checks_elided;
  int store_exit;          /* a faulting store leaves the block at once (ss_store_faults_exit) */
  int running;             /* inside ss_emu_start's uc_emu_start */
  int pending_error;       /* the uc_err of a store fault that left the block that way */
} native_engine;

/* One entry per open engine, allocated on its own so a pointer to it (last_native_engine)
 * stays valid while the table of pointers grows; the table has no fixed limit. */
static native_engine **native_engines;
static int native_engines_used;        /* entries [0, used) may be in use (NULL: free) */
static int native_engines_capacity;
static native_engine *last_native_engine;
/* The engine whose block start's exit check is generated next (see brcondi_i32). */
static native_engine *pending_start_check;
/* The engine of the CPU seen last by a TLB fill (see set_page). */
static native_engine *last_cpu_engine;

static native_engine *native_engine_of(void *uc) {
  if (last_native_engine && last_native_engine->uc == uc) return last_native_engine;
  for (int i = 0; i < native_engines_used; i++) {
    if (native_engines[i] && native_engines[i]->uc == uc) return last_native_engine = native_engines[i];
  }
  return NULL;
}

static void *find_cpu(native_engine *ne) {
  if (ne->cpu_state) return ne->cpu_state > 0 ? ne->cpu : NULL;
  ne->cpu_state = -1;
  arch_fns *a = ne->fns;
  if (!a->add_inline_hook || !a->del_inline_hook) return NULL;
  void **words = ne->uc;
  for (int i = 0; i < 256; i++) {
    /* the library's add_inline_hook, or the replacement below if the linker bound it here */
    if ((words[i] != a->add_inline_hook && words[i] != a->wrapper) || words[i + 1] != a->del_inline_hook) continue;
    void **cpu = words[i + 5];
    if (!cpu || ((uintptr_t)cpu & 7)) return NULL;
    for (int k = 0; k < 8192; k++) {
      if (cpu[k] == ne->uc) {
        ne->cpu = cpu;
        ne->cpu_state = 1;
        return cpu;
      }
    }
    return NULL;
  }
  return NULL;
}

/* Starts knowing an engine of `arch` (0: x86-64, 1: AArch64); call after its first uc_mem_map
 * or register access, when Unicorn has made its CPU. Returns 1 when the CPU was found (dirty
 * marking and fault-PC restoring can work), 0 when not, -1 when out of memory. */
int ss_engine_open(void *uc, int arch) {
  native_engine *ne = native_engine_of(uc);
  if (!ne) {
    int slot = -1;
    for (int i = 0; i < native_engines_used; i++) {
      if (!native_engines[i]) { slot = i; break; }
    }
    if (slot < 0) {
      if (native_engines_used == native_engines_capacity) {
        int cap = native_engines_capacity ? native_engines_capacity * 2 : 64;
        native_engine **grown = realloc(native_engines, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        native_engines = grown;
        native_engines_capacity = cap;
      }
      slot = native_engines_used++;
      native_engines[slot] = NULL;
    }
    ne = malloc(sizeof *ne);
    if (!ne) return -1;
    native_engines[slot] = ne;
  }
  memset(ne, 0, sizeof *ne);
  ne->uc = uc;
  ne->fns = arch == 0 ? &fns_x86_64 : &fns_aarch64;
  resolve(ne->fns);
  if (!unicorn_2_0()) ne->cpu_state = -1; /* another layout: no dirty marking, no PC restoring */
  return find_cpu(ne) ? 1 : 0;
}

/* Forgets the engine (before uc_close: its address may be reused). */
void ss_engine_close(void *uc) {
  native_engine *ne = native_engine_of(uc);
  if (!ne) return;
  if (last_native_engine == ne) last_native_engine = NULL;
  if (pending_start_check == ne) pending_start_check = NULL;
  /* Else a TLB fill for a later engine whose CPU lands at the same address finds this freed record. */
  if (last_cpu_engine == ne) last_cpu_engine = NULL;
  for (int i = 0; i < native_engines_used; i++) {
    if (native_engines[i] == ne) native_engines[i] = NULL;
  }
  free(ne->ranges);
  free(ne);
  while (native_engines_used > 0 && native_engines[native_engines_used - 1] == NULL) native_engines_used--;
}

static void after_store_check(arch_fns *a, void *uc, uint64_t ram_addr) {
  native_engine *ne = native_engine_of(uc);
  if (!ne || ne->count == 0 || !a->map_ram || !a->set_dirty) return;
  void *cpu = find_cpu(ne);
  if (!cpu) return;
  uintptr_t host = (uintptr_t)a->map_ram(uc, NULL, ram_addr);
  for (uint32_t i = 0; i < ne->count; i++) {
    store_range *r = &ne->ranges[i];
    if (host >= r->host && host < r->host + r->size) {
      a->set_dirty(cpu, r->guest + (host - r->host));
      ne->marked++;
      return;
    }
  }
}

static void invalidate_then_mark(arch_fns *a, void *uc, void *pages, uint64_t start, int len, uintptr_t retaddr) {
  if (resolve(a) < 0) {
    fprintf(stderr, "stackscope: libunicorn.so.2 has no tb_invalidate_phys_page_fast_%s\n", a->suffix);
    abort();
  }
  a->invalidate(uc, pages, start, len, retaddr); /* may not return: code modified under way */
  after_store_check(a, uc, start);
}

void tb_invalidate_phys_page_fast_x86_64(void *uc, void *pages, uint64_t start, int len, uintptr_t retaddr) {
  invalidate_then_mark(&fns_x86_64, uc, pages, start, len, retaddr);
}

void tb_invalidate_phys_page_fast_aarch64(void *uc, void *pages, uint64_t start, int len, uintptr_t retaddr) {
  invalidate_then_mark(&fns_aarch64, uc, pages, start, len, retaddr);
}

/* Forgets the engine's writable, non-executable ranges (before it changes them). */
void ss_fast_stores_clear(void *uc) {
  native_engine *ne = native_engine_of(uc);
  if (ne) ne->count = 0;
}

/* Adds a writable, non-executable guest range backed by host memory at `host`; 0, or -1. */
int ss_fast_stores_add(void *uc, uint64_t guest, uint64_t size, void *host) {
  native_engine *ne = native_engine_of(uc);
  if (!ne) return -1;
  if (ne->count == ne->capacity) {
    uint32_t cap = ne->capacity ? ne->capacity * 2 : 16;
    store_range *r = realloc(ne->ranges, cap * sizeof *r);
    if (!r) return -1;
    ne->ranges = r;
    ne->capacity = cap;
  }
  ne->ranges[ne->count++] = (store_range){ guest, size, (uintptr_t)host };
  return 0;
}

/* Pages marked dirty for the engine so far; -1 if its CPU could not be found (slow stores). */
int64_t ss_fast_stores_marked(void *uc) {
  native_engine *ne = native_engine_of(uc);
  if (!ne) return 0;
  return ne->cpu_state < 0 ? -1 : (int64_t)ne->marked;
}

/*
 * TLB fills. Unicorn's softmmu TLB is direct-mapped and starts with 256 entries per MMU mode;
 * QEMU resizes it only when it is flushed (doubling it when more than 70 % of it was in use),
 * and nothing flushes it during a long run, so a guest touching more than 256 pages at random
 * refills an entry on most of those accesses. And every fill of a writable page marks it
 * "not dirty" (2.0.1 keeps no dirty bitmap), so the first store after each fill takes the slow
 * path described above. The replacement of tlb_set_page_with_attrs below (bound here through
 * libunicorn's PLT, as the store-path functions are) calls the library's own function and then
 * (1) marks a page of a writable, non-executable range dirty at once, which is what the first
 * store would have done, and (2) counts fills. When the counter's slow path (a block's grant of
 * the budget used up, at least every GRANT_MAX_INSNS instructions) finds more fills since the
 * last check than twice the TLB's entries, it flushes the TLB, which lets QEMU double it (up to
 * TLB_MAX_ENTRIES here).
 */
enum { PAGE_WRITE_BIT = 0x2, TLB_FIRST_ENTRIES = 256, TLB_MAX_ENTRIES = 1 << 16 };


static native_engine *native_engine_of_cpu(void *cpu) {
  if (last_cpu_engine && last_cpu_engine->cpu == cpu && last_cpu_engine->cpu_state > 0) return last_cpu_engine;
  for (int i = 0; i < native_engines_used; i++) {
    native_engine *ne = native_engines[i];
    if (ne && ne->cpu_state > 0 && ne->cpu == cpu) return last_cpu_engine = ne;
  }
  return NULL;
}

static void set_page(arch_fns *a, void *cpu, uint64_t vaddr, uint64_t paddr, uint32_t attrs, int prot, int mmu_idx, uint64_t size) {
  if (resolve(a) < 0 || !a->set_page) {
    fprintf(stderr, "stackscope: libunicorn.so.2 has no tlb_set_page_with_attrs_%s\n", a->suffix);
    abort();
  }
  a->set_page(cpu, vaddr, paddr, attrs, prot, mmu_idx, size);
  if (!unicorn_2_0()) return;
  native_engine *ne = native_engine_of_cpu(cpu);
  if (!ne) return;
  ne->fills++;
  if (!(prot & PAGE_WRITE_BIT) || vaddr != paddr || !a->set_dirty) return;
  for (uint32_t i = 0; i < ne->count; i++) {
    store_range *r = &ne->ranges[i];
    if (vaddr - r->guest < r->size) {
      a->set_dirty(cpu, vaddr);
      ne->marked++;
      return;
    }
  }
}

void tlb_set_page_with_attrs_x86_64(void *cpu, uint64_t vaddr, uint64_t paddr, uint32_t attrs, int prot, int mmu_idx, uint64_t size) {
  set_page(&fns_x86_64, cpu, vaddr, paddr, attrs, prot, mmu_idx, size);
}

void tlb_set_page_with_attrs_aarch64(void *cpu, uint64_t vaddr, uint64_t paddr, uint32_t attrs, int prot, int mmu_idx, uint64_t size) {
  set_page(&fns_aarch64, cpu, vaddr, paddr, attrs, prot, mmu_idx, size);
}

static void tlb_check(uc_engine *uc) {
  native_engine *ne = native_engine_of(uc);
  if (!ne || ne->cpu_state <= 0 || !ne->fns->tlb_flush) return;
  if (!ne->tlb_entries) ne->tlb_entries = TLB_FIRST_ENTRIES;
  if (ne->fills - ne->fills_at_flush <= 2 * ne->tlb_entries) return;
  ne->fills_at_flush = ne->fills;
  if (ne->tlb_entries >= TLB_MAX_ENTRIES) return;
  ne->fns->tlb_flush(ne->cpu);
  ne->tlb_entries *= 2;
  ne->tlb_grown++;
}

/* TLB fills so far, and flushes made to let the TLB grow. */
uint64_t ss_tlb_fills(void *uc) {
  native_engine *ne = native_engine_of(uc);
  return ne ? ne->fills : 0;
}

uint64_t ss_tlb_grown(void *uc) {
  native_engine *ne = native_engine_of(uc);
  return ne ? ne->tlb_grown : 0;
}

/*
 * Exit checks after guest loads and stores. Unicorn 2.0.1 generates, after every guest load
 * and store, a check of the exit request (a load and a conditional branch out of the block),
 * so that a stop requested during the access takes effect at once. The branch ends a TCG
 * basic block, so guest registers held in host registers are written back around every
 * access. After a load only a hook on valid accesses can ask for that stop: an invalid load
 * leaves the block at once (2.0.1 calls cpu_loop_exit), and a stop from a block or code hook
 * has checks of its own. An invalid store in 2.0.1 only requests the exit and returns, so the
 * rest of the block would run on without the check; on an engine with ss_store_faults_exit
 * the last invalid-access hook leaves the block at once instead (on_store_fault), as a load
 * does, and stores need the check no more than loads. So where the engine has no hook on
 * valid accesses when a block is translated (the host says so with ss_memory_hooks; an access
 * hook added later applies only to code translated after it, as in Unicorn), the
 * replacements below translate loads — and stores, on such an engine — without it: the
 * load and store generators (bound here through the PLT) mark the check Unicorn's own
 * generator then asks for, and the check's replacement generates nothing for those. Any
 * check the engine cannot vouch for (another engine, a TCG context not checked above,
 * another Unicorn) is generated.
 */
static int in_load, in_store;

static native_engine *engine_of_tcg(void *s) {
  for (int i = 0; i < native_engines_used; i++) {
    native_engine *ne = native_engines[i];
    if (ne && ne->tcg_state > 0 && ne->tcg == s) return ne;
  }
  return NULL;
}

/* Unicorn's own generator for a load or store, with `inside` (in_load or in_store) raised
 * while it runs, so exit_check knows what asks for the check. */
static void access_op(int *inside, arch_fns *a, ldst_fn own, const char *name, void *s, void *val, void *addr, uintptr_t idx, int memop) {
  if (resolve(a) < 0 || !own) {
    fprintf(stderr, "stackscope: libunicorn.so.2 has no %s_%s\n", name, a->suffix);
    abort();
  }
  (*inside)++;
  own(s, val, addr, idx, memop);
  (*inside)--;
}

static void exit_check(arch_fns *a, void *s) {
  if (resolve(a) < 0 || !a->exit_check) {
    fprintf(stderr, "stackscope: libunicorn.so.2 has no check_exit_request_%s\n", a->suffix);
    abort();
  }
  if ((in_load || in_store) && unicorn_2_0()) {
    native_engine *ne = engine_of_tcg(s);
    if (ne && ne->memory_hooks == 0 && (in_load || ne->store_exit)) {
      ne->exit_checks_elided++;
      return;
    }
  }
  a->exit_check(s);
}

#define ACCESS_OP(op, arch, inside) \
  void tcg_gen_qemu_##op##_##arch(void *s, void *val, void *addr, uintptr_t idx, int memop) { \
    access_op(&inside, &fns_##arch, fns_##arch.op, "tcg_gen_qemu_" #op, s, val, addr, idx, memop); \
  }
ACCESS_OP(ld_i32, x86_64, in_load)
ACCESS_OP(ld_i64, x86_64, in_load)
ACCESS_OP(ld_i32, aarch64, in_load)
ACCESS_OP(ld_i64, aarch64, in_load)
ACCESS_OP(st_i32, x86_64, in_store)
ACCESS_OP(st_i64, x86_64, in_store)
ACCESS_OP(st_i32, aarch64, in_store)
ACCESS_OP(st_i64, aarch64, in_store)
#undef ACCESS_OP

void check_exit_request_x86_64(void *s) { exit_check(&fns_x86_64, s); }
void check_exit_request_aarch64(void *s) { exit_check(&fns_aarch64, s); }

/* How many hooks on valid data accesses the engine has (0: accesses are translated without
 * the exit check). */
void ss_memory_hooks(void *uc, int count) {
  native_engine *ne = native_engine_of(uc);
  if (ne) ne->memory_hooks = count;
}

/* Exit checks left out of translated loads so far. */
uint64_t ss_exit_checks_elided(void *uc) {
  native_engine *ne = native_engine_of(uc);
  return ne ? ne->exit_checks_elided : 0;
}

/*
 * Exact PCs for faulting data accesses. After an access to unmapped or forbidden memory,
 * Unicorn 2.0.1 leaves the guest PC where it last wrote it back — the start of the translated
 * block — because it leaves the block without restoring the CPU state from the host return
 * address, as QEMU does for its own faults. This hook (UC_HOOK_MEM_INVALID, added before any
 * other so it runs first) does the restoring: Unicorn calls it from its load or store helper,
 * which the translated code called, so the helper's return address into that code is on the
 * stack a few frames up. Each word from here upwards is offered to Unicorn's
 * cpu_restore_state, which accepts only an address inside translated code (it looks the block
 * up) and then sets the PC — and the other state it tracks per instruction — to the faulting
 * instruction. Registers already hold that instruction's inputs, since translated code writes
 * them back before any access that can fault. Fetch faults need nothing: their PC is the
 * address fetched. The hook reports the access as not handled, so the run stops as before.
 */
enum { STACK_WORDS = 256 };

typedef bool (*restore_fn)(void *cpu, uintptr_t host_pc, bool will_exit);

static __attribute__((noinline)) bool on_invalid_access(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value, void *user) {
  (void)address; (void)size; (void)value; (void)user;
  if (type == UC_MEM_FETCH_UNMAPPED || type == UC_MEM_FETCH_PROT) return false;
  native_engine *ne = native_engine_of(uc);
  if (!ne || !ne->fns->restore_state) return false;
  void *cpu = find_cpu(ne);
  if (!cpu) return false;
  uintptr_t *stack = __builtin_frame_address(0);
  for (int i = 0; i < STACK_WORDS; i++) {
    if (((restore_fn)ne->fns->restore_state)(cpu, stack[i], true)) {
      ne->restored++;
      break;
    }
  }
  return false;
}

/* Adds the fault-PC hook; returns a uc_err (its handle in *out). */
int ss_exact_faults(uc_engine *uc, uc_hook *out) {
  return uc_hook_add(uc, out, UC_HOOK_MEM_INVALID, (void *)on_invalid_access, NULL, 1, 0);
}

/* Faulting accesses whose PC the hook restored. */
uint64_t ss_faults_restored(void *uc) {
  native_engine *ne = native_engine_of(uc);
  return ne ? ne->restored : 0;
}

/*
 * A faulting store leaves its block at once (see "Exit checks" above). Added after every other
 * invalid-access hook (the PC restorer first, then the host's fault recorder), this one runs
 * only when none of them handled the store: it asks the run to stop (uc_emu_stop) and leaves
 * the translated code through cpu_loop_exit, as 2.0.1 does for a faulting load; ss_emu_start
 * then returns the store's error (UC_ERR_WRITE_UNMAPPED or UC_ERR_WRITE_PROT), which the
 * library itself would have returned. Outside a run (no translated code to leave) it reports
 * the store as not handled, as before.
 */
static bool on_store_fault(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value, void *user) {
  (void)address; (void)size; (void)value; (void)user;
  if (type != UC_MEM_WRITE_UNMAPPED && type != UC_MEM_WRITE_PROT) return false;
  native_engine *ne = native_engine_of(uc);
  if (!ne || !ne->store_exit || !ne->running) return false;
  void *cpu = find_cpu(ne);
  if (!cpu) return false;
  ne->pending_error = type == UC_MEM_WRITE_PROT ? UC_ERR_WRITE_PROT : UC_ERR_WRITE_UNMAPPED;
  uc_emu_stop(uc);
  ne->fns->loop_exit(cpu); /* does not return */
  return false;
}

/* Adds the store-fault exit hook (last of the invalid-access hooks); returns a uc_err (its
 * handle in *out), UC_ERR_ARG where it cannot work (no CPU found, another Unicorn): the engine
 * then keeps the exit check after stores. */
int ss_store_faults_exit(uc_engine *uc, uc_hook *out) {
  native_engine *ne = native_engine_of(uc);
  if (!ne || !unicorn_2_0() || resolve(ne->fns) < 0 || !ne->fns->loop_exit || !find_cpu(ne)) return UC_ERR_ARG;
  int err = uc_hook_add(uc, out, UC_HOOK_MEM_WRITE_UNMAPPED | UC_HOOK_MEM_WRITE_PROT, (void *)on_store_fault, NULL, 1, 0);
  if (err == UC_ERR_OK) ne->store_exit = 1;
  return err;
}

/*
 * Containing Unicorn's aborts. Unicorn 2.0.1 calls abort() on some guest encodings it cannot
 * translate — e.g. x86-64 `ff /3` or `ff /5` (lcall/ljmp) with a register operand, which its
 * QEMU 5 translator turns into code using an uninitialised temporary ("tcg fatal error") — and
 * a guest program must not be able to kill the host process. ss_emu_start runs uc_emu_start
 * with a SIGABRT handler that, while a start is in progress on this thread, jumps back here
 * instead of ending the process. The engine is left half-way through a translation: it is
 * marked aborted and every later ss_emu_start on it fails at once with SS_ERR_ABORTED (the
 * host must not close it either). Outside a start, the handler restores the default action
 * and raises the signal again, so other aborts still end the process.
 */
#include <setjmp.h>
#include <signal.h>

enum { SS_ERR_ABORTED = 1000 };

static sigjmp_buf *abort_target;     /* set while a start is in progress (one thread at a time) */
static int abort_handler_installed;
static struct sigaction previous_abort_action;

static void on_abort_signal(int sig) {
  if (abort_target) {
    sigjmp_buf *target = abort_target;
    abort_target = NULL;
    siglongjmp(*target, 1);
  }
  /* Not ours: put back what was there before and let it happen. */
  sigaction(SIGABRT, &previous_abort_action, NULL);
  raise(sig);
}

static void install_abort_handler(void) {
  if (abort_handler_installed) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_abort_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGABRT, &sa, &previous_abort_action);
  abort_handler_installed = 1;
}

/*
 * Stores that straddle into unmapped memory write nothing. For a store that crosses a page
 * boundary, Unicorn 2.0.1 (QEMU 5's store_helper) stores byte by byte, so the bytes before the
 * boundary are written before the byte after it faults: a partial write. x86-64 hardware writes
 * nothing, and Wasm requires an out-of-bounds store to leave memory as it was — including one
 * that straddles the end of a linear memory's accessible bytes, whose bounds check is the fault
 * in the unmapped reservation after them (compiler/memory-tunables.ts). These replacements of
 * the library's 2-, 4- and 8-byte little-endian store helpers (bound here like the page
 * collection ones above) look at the page after the boundary first: when nothing is mapped
 * there, they store the store's first byte past the boundary alone, which faults as the whole
 * store would have (same address, the fault hooks run, the PC is restored, the run stops)
 * before any byte is written. Only while ss_emu_start runs on this thread (running_uc), and
 * only with Unicorn 2.0.x; otherwise, and for every store within one page, the library's own
 * helper runs.
 */
static __thread uc_engine *running_uc;
void *memory_mapping(uc_engine *uc, uint64_t address);

typedef void (*st8_fn)(void *env, uint64_t addr, uint8_t val, uint32_t oi, uintptr_t ra);
typedef void (*st16_fn)(void *env, uint64_t addr, uint16_t val, uint32_t oi, uintptr_t ra);
typedef void (*st32_fn)(void *env, uint64_t addr, uint32_t val, uint32_t oi, uintptr_t ra);
typedef void (*st64_fn)(void *env, uint64_t addr, uint64_t val, uint32_t oi, uintptr_t ra);

/* Whether a `size`-byte store at `addr` was handled here: it crosses into an unmapped page, so
 * its first byte there was stored alone (and faulted). */
static int straddles_unmapped(const char *suffix, void *env, uint64_t addr, uint64_t val, int size, uint32_t oi, uintptr_t ra) {
  uint64_t last = addr + (uint64_t)size - 1;
  if (((addr ^ last) & ~(uint64_t)0xfff) == 0 || !running_uc || !unicorn_2_0()) return 0;
  uint64_t page2 = last & ~(uint64_t)0xfff;
  if (memory_mapping(running_uc, page2) != NULL) return 0;
  static st8_fn stb_x86_64, stb_aarch64;
  st8_fn *own = suffix[0] == 'x' ? &stb_x86_64 : &stb_aarch64;
  if (!*own) *own = (st8_fn)unicorn_symbol("helper_ret_stb_mmu", suffix);
  if (!*own) return 0;
  /* The byte at page2, with the access's MMU index (MO_UB = 0). */
  (*own)(env, page2, (uint8_t)(val >> (8 * (page2 - addr))), oi & 15, ra);
  return 1;
}

#define STRADDLE_GUARD(bits, width, arch)                                                          \
  void helper_le_st##width##_mmu_##arch(void *env, uint64_t addr, uint##bits##_t val, uint32_t oi, uintptr_t ra) { \
    static st##bits##_fn own;                                                                      \
    if (straddles_unmapped(#arch, env, addr, val, bits / 8, oi, ra)) return;                       \
    if (!own) own = (st##bits##_fn)unicorn_symbol("helper_le_st" #width "_mmu", #arch);           \
    own(env, addr, val, oi, ra);                                                                   \
  }
STRADDLE_GUARD(16, w, x86_64)
STRADDLE_GUARD(32, l, x86_64)
STRADDLE_GUARD(64, q, x86_64)
STRADDLE_GUARD(16, w, aarch64)
STRADDLE_GUARD(32, l, aarch64)
STRADDLE_GUARD(64, q, aarch64)

/* uc_emu_start, with Unicorn's aborts turned into SS_ERR_ABORTED (see above). */
int ss_emu_start(uc_engine *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count) {
  native_engine *ne = native_engine_of(uc);
  if (ne && ne->aborted) return SS_ERR_ABORTED;
  install_abort_handler();
  sigjmp_buf here;
  sigjmp_buf *outer = abort_target; /* a start from a hook of another engine's start */
  uc_engine *outer_uc = running_uc;
  if (sigsetjmp(here, 0)) {
    /* abort() unblocked SIGABRT before raising it, and the handler ran with it blocked;
     * leaving the handler by a jump keeps it blocked: unblock it again. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGABRT);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    abort_target = outer;
    running_uc = outer_uc;
    if (ne) {
      ne->aborted = 1;
      ne->running = 0;
    }
    return SS_ERR_ABORTED;
  }
  abort_target = &here;
  if (ne) {
    ne->running++;
    ne->pending_error = UC_ERR_OK;
  }
  running_uc = uc;
  int err = uc_emu_start(uc, begin, until, timeout, count);
  running_uc = outer_uc;
  abort_target = outer;
  if (ne) {
    ne->running--;
    if (err == UC_ERR_OK && ne->pending_error != UC_ERR_OK) err = ne->pending_error; /* on_store_fault */
    ne->pending_error = UC_ERR_OK;
  }
  return err;
}


/*
 * One call into the guest in one round trip from the host (each call from JavaScript into
 * native code costs about as much as a tiny guest function): optionally zero the counters and
 * take new limits from the state, write registers, run, read registers, and write the totals
 * into the state. `io` is host memory laid out as below (mirrored in simulator/unicorn.ts);
 * register values take 16 bytes each, so vector registers are written and read whole (a value
 * written is zero-extended to 128 bits).
 */
enum { CALL_RESET = 1, CALL_LIMITS = 2 };
enum { IO_REGS = 32 };
typedef struct {
  uint64_t begin, until;
  uint32_t flags, nwrite, nread;
  int32_t ran;   /* out: 1 when it ran (its result is the run's), 0 when it failed before */
  int32_t write_ids[IO_REGS];
  int32_t read_ids[IO_REGS];
  uint64_t write_values[IO_REGS][2];
  uint64_t read_values[IO_REGS][2];
} call_io;

void ss_reset_counts(void *ctx);

int ss_call(uc_engine *uc, void *ctx, call_io *io) {
  ctx_t *c = ctx;
  shared_state *s = c->state;
  io->ran = 0;
  if (io->nwrite > IO_REGS || io->nread > IO_REGS) return UC_ERR_ARG;
  if (io->flags & CALL_RESET) {
    s->instructions = 0;
    s->blocks = 0;
    ss_reset_counts(ctx);
  }
  if (io->flags & (CALL_RESET | CALL_LIMITS)) ss_sync_in(ctx);
  void *ptrs[IO_REGS];
  for (uint32_t i = 0; i < io->nwrite; i++) {
    io->write_values[i][1] = 0;
    ptrs[i] = io->write_values[i];
  }
  int err = io->nwrite ? uc_reg_write_batch(uc, io->write_ids, ptrs, (int)io->nwrite) : UC_ERR_OK;
  if (err != UC_ERR_OK) return err;
  s->reason = 0;
  s->interrupt = 0;
  err = ss_emu_start(uc, io->begin, io->until, 0, 0);
  io->ran = 1;
  if (err == SS_ERR_ABORTED) return err;
  for (uint32_t i = 0; i < io->nread; i++) ptrs[i] = io->read_values[i];
  if (io->nread) uc_reg_read_batch(uc, io->read_ids, ptrs, (int)io->nread);
  /* The totals are not written here: ss_sync_out walks every block touched since the reset,
   * and a call with many host calls (each resumed through ss_call) would walk them at every
   * one. The host asks for them (ss_sync_out) when it reads the counts. */
  return err;
}

/*
 * Counting in the translated code. A block hook costs a call out of every translated block;
 * on a loop of 3-instruction blocks the call and the counting behind it halve the speed
 * (bench/timing). With a single block hook, Unicorn 2.0.1 generates that call through
 * uc->add_inline_hook, which it takes from the library's uc_add_inline_hook_<arch> — through
 * the GOT, so the dynamic linker binds it to the definitions below, as it does the store-path
 * functions above. For stackscope's own counter hook (on_block, on an engine known through
 * ss_engine_open) they generate the inline counter described at on_block_slot instead, with
 * Unicorn's exported TCG functions; every other hook goes to the library's own function.
 *
 * What this relies on, and how it is checked (any failure: the engine keeps the call):
 *  - Unicorn 2.0.x (uc_version), the exported TCG functions (dlsym), and the hook's arguments
 *    as gen_uc_tracecode makes them: uc, address, size and user data as four TCG temporaries;
 *  - the TCG context at uc->tcg_ctx (offset UC_TCG_CTX of 2.0.1's uc_struct): accepted only
 *    if the four argument temporaries lie inside it and it points back to the engine, with its
 *    opcode table (the word before that pointer, as in 2.0.1's TCGContext) naming the opcodes
 *    used here at the indices used here;
 *  - struct hook, TCGLabel and the TCG enums of 2.0.1 (below).
 * The size argument is a constant Unicorn patches in once the block is translated, so the
 * counter does not pass address and size at all (storing them on every execution cost two
 * stores per block): the call behind it, the first time, looks its translation block up by
 * its own return address (tcg_tb_lookup, as cpu_restore_state does) and keeps the block's
 * address and size (2.0.1's TranslationBlock: pc first, the 16-bit size at byte 20) in the
 * slot, which belongs to that one translation.
 */
typedef struct {   /* struct hook of Unicorn 2.0 (include/uc_priv.h) */
  int type, insn, refs, op, op_flags;
  bool to_delete;
  uint64_t begin, end;
  void *callback, *user_data;
  void *hooked_regions;
} unicorn_hook;

typedef void (*add_inline_hook_fn)(void *uc, void *hook, void **args, int nargs);

enum { TCG_TYPE_I64 = 1, TCG_COND_NE = 8 | 1, TCG_COND_LT = 2 };
enum { OP_SET_LABEL = 1, OP_ST_I32 = 16, OP_LD_I64 = 73, OP_ST_I64 = 77 };
static const struct { int index; const char *name; } used_ops[] = {
  { OP_SET_LABEL, "set_label" }, { OP_ST_I32, "st_i32" }, { OP_LD_I64, "ld_i64" }, { OP_ST_I64, "st_i64" },
};
enum {
  UC_TCG_CTX = 0x2c0,        /* offsetof(struct uc_struct, tcg_ctx) in 2.0.1 */
  TCG_OP_DEF_WORDS = 4,      /* sizeof(TCGOpDef) / 8; its name comes first */
  TCG_TEMPS_SPAN = 1 << 16,  /* the argument temporaries lie this close after the context */
  TCG_CONTEXT_WORDS = 1 << 13, /* where to look for its pointer to the engine (2.0.1: ≈ 40 KiB in) */
};

static int has_tcg_functions(arch_fns *a) {
  return resolve(a) > 0 && a->add_inline_hook && a->temp_new && a->temp_free && a->const_i32 && a->const_i64 &&
    a->op1 && a->op3 && a->subi_i64 && a->brcondi_i64 && a->new_label && a->tb_lookup;
}

/* The engine's TCG context, once checked as described above; NULL if it does not check. */
static char *tcg_context(native_engine *ne, void **args, int nargs) {
  if (ne->tcg_state) return ne->tcg_state > 0 ? ne->tcg : NULL;
  ne->tcg_state = -1;
  char *s = *(char **)((char *)ne->uc + UC_TCG_CTX);
  if (!s || ((uintptr_t)s & 7)) return NULL;
  for (int i = 0; i < nargs; i++)
    if ((uintptr_t)args[i] - (uintptr_t)s >= TCG_TEMPS_SPAN) return NULL;
  void **words = (void **)s;
  for (int k = 1; k < TCG_CONTEXT_WORDS; k++) {
    if (words[k] != ne->uc) continue;
    const char **defs = words[k - 1];
    if (!defs || ((uintptr_t)defs & 7)) return NULL;
    for (size_t j = 0; j < sizeof used_ops / sizeof used_ops[0]; j++) {
      const char *name = defs[used_ops[j].index * TCG_OP_DEF_WORDS];
      if (!name || strcmp(name, used_ops[j].name) != 0) return NULL;
    }
    ne->tcg = s;
    ne->tcg_uc_word = k;
    ne->tcg_state = 1;
    return s;
  }
  return NULL;
}

/* The TCG temporary of the CPU state pointer ("env", the global QEMU keeps in TCG_AREG0), or
 * NULL. In 2.0.1 it is the first of the context's temporaries (TCGTemp, 56 bytes: a word of
 * reg, val_type, base_type and type (bytes), a word of flags with fixed_reg first and temp_global
 * sixth, then val, mem_base, mem_offset and name), one of the two globals in a fixed register
 * (with "_frame", the stack pointer); it is looked for downwards from one of the hook's
 * argument temporaries, which lie in the same array, and accepted only if its offset from the
 * context is the context's cpu_env (a few words before its pointer to the engine) and it is
 * named "env". */
enum { TCG_TEMP_BYTES = 56, TCG_TEMP_NAME = 32, TCG_TEMP_FIXED_GLOBAL = 0x21, TCG_ENV_TYPES = 0x0101, CPU_ENV_WORDS = 32 };

static void *env_temp(native_engine *ne, char *s, void *arg) {
  if (ne->env_temp_state) return ne->env_temp_state > 0 ? ne->env_temp : NULL;
  ne->env_temp_state = -1;
  if (ne->tcg_uc_word <= CPU_ENV_WORDS) return NULL;
  void **words = (void **)s;
  for (char *p = arg; p >= s; p -= TCG_TEMP_BYTES) {
    uint32_t head, flags;
    memcpy(&head, p, sizeof head);
    memcpy(&flags, p + 4, sizeof flags);
    /* of 64-bit type (base_type, type); a global in a fixed register */
    if ((head >> 16) != TCG_ENV_TYPES || (flags & TCG_TEMP_FIXED_GLOBAL) != TCG_TEMP_FIXED_GLOBAL) continue;
    uintptr_t v = (uintptr_t)(p - s);
    for (int j = 1; j <= CPU_ENV_WORDS; j++) {
      if ((uintptr_t)words[ne->tcg_uc_word - j] != v) continue;
      const char *name;
      memcpy(&name, p + TCG_TEMP_NAME, sizeof name);
      if (!name || strcmp(name, "env") != 0) return NULL;
      ne->env_temp = p;
      ne->env_temp_state = 1;
      return p;
    }
  }
  return NULL;
}

/* Keeps the CPU state pointer's value, which the translated code passes to the counter's call. */
static void learn_env(uc_engine *uc, uintptr_t env) {
  native_engine *ne = native_engine_of(uc);
  if (ne && !ne->env && env) ne->env = env;
}

/* Whether `p` is within a host load's 32-bit displacement of the CPU state (*off: the distance). */
static bool near_env(native_engine *ne, const void *p, intptr_t *off) {
  if (!ne->env) return false;
  intptr_t d = (intptr_t)((uintptr_t)p - ne->env);
  if (d != (int32_t)d) return false;
  *off = d;
  return true;
}

static bool can_leave(native_engine *ne);

/* Generates the inline counter for one block; false when it cannot (the caller generates the
 * call instead). */
static bool emit_counter(arch_fns *a, void *uc, unicorn_hook *hook, void **args, int nargs) {
  if (hook->callback != (void *)on_block || hook->type != UC_HOOK_BLOCK || nargs != 4) return false;
  native_engine *ne = native_engine_of(uc);
  if (!ne || ne->inline_off || !unicorn_2_0() || !has_tcg_functions(a)) return false;
  char *s = tcg_context(ne, args, nargs);
  if (!s) return false;
  void *env = env_temp(ne, s, args[0]); /* NULL: not found, so constant addresses */
  ctx_t *c = hook->user_data;
  block_slot *slot = new_slot(c);
  if (!slot) return false;
  /* TCG names a temporary by its offset in the context (TCGv) in the typed functions, and by
   * its address (TCGArg) in the raw ones. */
#define ARG(v) ((uintptr_t)(s + (v)))
#define TCGV(t) ((uintptr_t)((char *)(t) - s))
  /* The slot's count and ctx->last are addressed from the CPU state pointer, which the
   * translated code holds in a register, where both are near it (all three on the heap); else
   * from constants. ctx->last takes the slot's address with the low bit set, a constant. */
  intptr_t slot_off, last_off;
  bool near = env && near_env(ne, &slot->left, &slot_off) && near_env(ne, &c->last, &last_off);
  uintptr_t base, slot_v = 0, last_v = 0;
  if (near) {
    base = (uintptr_t)env;
  } else {
    slot_v = a->const_i64(s, (int64_t)(uintptr_t)&slot->left);
    last_v = a->const_i64(s, (int64_t)(uintptr_t)&c->last);
    base = ARG(slot_v);
    slot_off = 0;
    last_off = 0;
  }
  uintptr_t tag_v = a->const_i64(s, (int64_t)((uintptr_t)slot | 1));
  void *left = a->temp_new(s, TCG_TYPE_I64, false);
  void *next = a->temp_new(s, TCG_TYPE_I64, false);
  a->op3(s, OP_LD_I64, (uintptr_t)left, base, (uintptr_t)slot_off);
  a->subi_i64(s, TCGV(next), TCGV(left), 1);
  a->op3(s, OP_ST_I64, (uintptr_t)next, base, (uintptr_t)slot_off);
  a->op3(s, OP_ST_I64, ARG(tag_v), near ? base : ARG(last_v), (uintptr_t)last_off);
  void *done = a->new_label(s);
  /* On the decremented count (was 0: now all ones), so the count needs one register, not two. */
  a->brcondi_i64(s, TCG_COND_NE, TCGV(next), -1, done);
  a->temp_free(s, next);
  a->temp_free(s, left);
  a->temp_free(s, (void *)ARG(tag_v));
  if (!near) {
    a->temp_free(s, (void *)ARG(last_v));
    a->temp_free(s, (void *)ARG(slot_v));
  }
  /* Out of executions (or unbound): the call, generated the way Unicorn generates hook calls. */
  uintptr_t call_v[4] = {
    a->const_i64(s, (int64_t)(uintptr_t)uc), a->const_i32(s, 0), a->const_i64(s, (int64_t)(uintptr_t)slot), a->const_i64(s, 0),
  };
  void *call_args[4] = { (void *)ARG(call_v[0]), env ? env : (void *)ARG(call_v[3]), (void *)ARG(call_v[1]), (void *)ARG(call_v[2]) };
  unicorn_hook call = *hook;
  call.callback = (void *)on_block_slot;
  call.user_data = slot;
  ((add_inline_hook_fn)a->add_inline_hook)(uc, &call, call_args, 4);
  for (int i = 0; i < 4; i++) a->temp_free(s, (void *)ARG(call_v[i]));
  *(uint32_t *)done |= 1; /* TCGLabel.present, the first bit of the label (gen_set_label) */
  a->op1(s, OP_SET_LABEL, (uintptr_t)done);
#undef ARG
#undef TCGV
  ne->inline_counters++;
  if (near) ne->env_counters++;
  pending_start_check = can_leave(ne) ? ne : NULL;
  return true;
}

enum { TB_PC = 0, TB_SIZE = 20 }; /* struct TranslationBlock of 2.0.1: target_ulong pc; ...; uint16_t size at 20 */

/* Fills the slot's block address and size from the translation block whose code holds
 * host_pc (the counter's call's return address); false if none does. */
static bool slot_block(uc_engine *uc, block_slot *slot, uintptr_t host_pc) {
  native_engine *ne = native_engine_of(uc);
  if (!ne || ne->tcg_state <= 0 || !ne->fns->tb_lookup) return false;
  const char *tb = ne->fns->tb_lookup(ne->tcg, host_pc);
  if (!tb) return false;
  uint16_t size;
  memcpy(&slot->address, tb + TB_PC, sizeof slot->address);
  memcpy(&size, tb + TB_SIZE, sizeof size);
  if (size == 0) return false;
  slot->size = size;
  return true;
}

/* Whether a counter's call can leave its block by itself (restoring the PC to the block's
 * start from its own return address, as QEMU's helpers do, then cpu_loop_exit). */
static bool can_leave(native_engine *ne) {
  return unicorn_2_0() && ne->fns->restore_state && ne->fns->loop_exit && ne->fns->brcondi_i32 && find_cpu(ne);
}

static void leave_block(uc_engine *uc, uintptr_t host_pc) {
  native_engine *ne = native_engine_of(uc);
  if (!ne || !can_leave(ne)) return; /* the block's exit check stops it */
  void *cpu = find_cpu(ne);
  if (!((restore_fn)ne->fns->restore_state)(cpu, host_pc, true)) {
    fprintf(stderr, "stackscope: an inline block counter's call could not restore the CPU state\n");
    abort();
  }
  ne->fns->loop_exit(cpu); /* does not return */
}

/* The block start's exit check. Unicorn generates, right after a block's hook (here: the inline
 * counter), a load of the exit request and a branch out of the block if it is set
 * (gen_tb_start, through tcg_gen_brcondi_i32, bound here through the PLT). For a block counted
 * inline on an engine whose counter calls can leave the block (can_leave), every stop this
 * library asks for at a block's start is made by that call, which leaves at once; the stops
 * others ask for during a run are taken where they are asked: code hooks and hooks on valid
 * accesses keep their own checks, and a fault or an exception leaves the block at once. So the
 * check is not generated for such blocks: emit_counter marks it as pending, and the
 * replacement below leaves out the next branch on `< 0` of that context (the load before it,
 * now unused, is dropped by TCG). Every other branch is generated as Unicorn asks. */
static void brcondi_i32(arch_fns *a, void *s, int cond, uintptr_t arg, int32_t imm, void *label) {
  if (resolve(a) < 0 || !a->brcondi_i32) {
    fprintf(stderr, "stackscope: libunicorn.so.2 has no tcg_gen_brcondi_i32_%s\n", a->suffix);
    abort();
  }
  native_engine *ne = pending_start_check;
  if (ne) {
    pending_start_check = NULL;
    if (ne->tcg == s && cond == TCG_COND_LT && imm == 0) {
      ne->start_checks_elided++;
      return;
    }
  }
  a->brcondi_i32(s, cond, arg, imm, label);
}

void tcg_gen_brcondi_i32_x86_64(void *s, int cond, uintptr_t arg, int32_t imm, void *label) {
  brcondi_i32(&fns_x86_64, s, cond, arg, imm, label);
}

void tcg_gen_brcondi_i32_aarch64(void *s, int cond, uintptr_t arg, int32_t imm, void *label) {
  brcondi_i32(&fns_aarch64, s, cond, arg, imm, label);
}

static void add_inline_hook(arch_fns *a, void *uc, void *hook, void **args, int nargs) {
  if (emit_counter(a, uc, hook, args, nargs)) return;
  if (resolve(a) < 0 || !a->add_inline_hook) {
    fprintf(stderr, "stackscope: libunicorn.so.2 has no uc_add_inline_hook_%s\n", a->suffix);
    abort();
  }
  ((add_inline_hook_fn)a->add_inline_hook)(uc, hook, args, nargs);
}

void uc_add_inline_hook_x86_64(void *uc, void *hook, void **args, int nargs) {
  add_inline_hook(&fns_x86_64, uc, hook, args, nargs);
}

void uc_add_inline_hook_aarch64(void *uc, void *hook, void **args, int nargs) {
  add_inline_hook(&fns_aarch64, uc, hook, args, nargs);
}

/* Chooses inline counters (on, the default) or the block hook call for blocks translated from
 * now on (the host drops translated code when it changes this). */
void ss_inline_counting(void *uc, int on) {
  native_engine *ne = native_engine_of(uc);
  if (ne) ne->inline_off = !on;
}

/* Blocks translated with an inline counter so far; -1 if the engine's TCG context did not
 * check (its blocks call the hook). */
int64_t ss_inline_counters(void *uc) {
  native_engine *ne = native_engine_of(uc);
  if (!ne) return 0;
  return ne->tcg_state < 0 ? -1 : (int64_t)ne->inline_counters;
}

/* Of those, the blocks whose counter addresses its count from the CPU state pointer (all but
 * those translated before the first counter's call, or where the heap is too far from it). */
int64_t ss_inline_counters_near(void *uc) {
  native_engine *ne = native_engine_of(uc);
  return ne ? (int64_t)ne->env_counters : 0;
}

/* Blocks translated without the exit check at their start (see brcondi_i32). */
uint64_t ss_start_checks_elided(void *uc) {
  native_engine *ne = native_engine_of(uc);
  return ne ? ne->start_checks_elided : 0;
}

// The runtime support an Embedded Swift guest links: the allocator (the runtime asks for memory through
// posix_memalign and free): a bump allocator over memory.grow. Freed memory is not reused; an
// isolate lives for one invocation or a few, and its whole memory goes with it.
#include <stddef.h>

extern unsigned char __heap_base;
static unsigned long next = 0;

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (next == 0) next = (unsigned long)&__heap_base;
    if (alignment < 8) alignment = 8;
    unsigned long start = (next + alignment - 1) & ~(unsigned long)(alignment - 1);
    unsigned long end = start + size;
    unsigned long available = __builtin_wasm_memory_size(0) * 65536UL;
    if (end > available) {
        // Geometric growth (at least an eighth of the memory): the host copies linear memory on
        // every growth and bounds the copying a call may cause.
        unsigned long pages = (end - available + 65535) / 65536;
        unsigned long eighth = __builtin_wasm_memory_size(0) / 8;
        if (pages < eighth) pages = eighth;
        if (__builtin_wasm_memory_grow(0, pages) == (unsigned long)-1) return 12; // ENOMEM
    }
    next = end;
    *result = (void *)start;
    return 0;
}

void free(void *pointer) { (void)pointer; }

// Swift's stack protector reports a smashed stack here: the guest traps, the host answers 500.
unsigned long __stack_chk_guard = 0x5d1e2c3b;
void __stack_chk_fail(void) { __builtin_trap(); }

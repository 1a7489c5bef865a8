// The runtime support an Embedded Swift guest links (swift-edge guest SDK): the allocator the
// runtime asks for memory through (posix_memalign and free), and the stack protector's hooks.
//
// Blocks come in power-of-two size classes; a freed block goes on its class's free list and is
// reused, so a warm isolate serving request after request keeps a steady footprint. New blocks
// are cut from the top of the heap, which grows linear memory geometrically (the host copies
// linear memory on every growth and bounds the copying one call may cause).
#include <stddef.h>

extern unsigned char __heap_base;
static unsigned long next = 0;
static void *free_lists[32];

// Header: the 8 bytes before the pointer returned hold the block's class and the offset from the
// block's start to that pointer.
static void *block_for(int size_class) {
    if (free_lists[size_class]) {
        void *block = free_lists[size_class];
        free_lists[size_class] = *(void **)block;
        return block;
    }
    if (next == 0) next = ((unsigned long)&__heap_base + 15) & ~(unsigned long)15;
    // 64-bit arithmetic: a 4 GiB memory's size does not fit the 32-bit unsigned long of wasm32.
    unsigned long long start = next, end = start + ((unsigned long long)1 << size_class);
    unsigned long long available = (unsigned long long)__builtin_wasm_memory_size(0) * 65536ULL;
    if (end > 0xffffffffULL) return 0;
    if (end > available) {
        unsigned long long pages = (end - available + 65535) / 65536;
        unsigned long long eighth = __builtin_wasm_memory_size(0) / 8;
        if (pages < eighth) pages = eighth;
        if (__builtin_wasm_memory_grow(0, (unsigned long)pages) == (unsigned long)-1) {
            // Geometric growth refused (at the limit): try exactly what is needed.
            pages = (end - available + 65535) / 65536;
            if (__builtin_wasm_memory_grow(0, (unsigned long)pages) == (unsigned long)-1) return 0;
        }
    }
    next = (unsigned long)end;
    return (void *)(unsigned long)start;
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) return 22; // EINVAL
    if (alignment < 16) alignment = 16;
    size_t needed = size + 16 + (alignment > 16 ? alignment : 0);
    if (needed < size) return 12; // ENOMEM
    int size_class = 5;
    while (size_class < 31 && ((size_t)1 << size_class) < needed) size_class++;
    if (((size_t)1 << size_class) < needed) return 12;
    unsigned char *block = block_for(size_class);
    if (!block) return 12;
    unsigned long pointer = ((unsigned long)block + 16 + alignment - 1) & ~(unsigned long)(alignment - 1);
    ((unsigned int *)pointer)[-2] = (unsigned int)size_class;
    ((unsigned int *)pointer)[-1] = (unsigned int)(pointer - (unsigned long)block);
    *result = (void *)pointer;
    return 0;
}

void free(void *pointer) {
    if (!pointer) return;
    unsigned int size_class = ((unsigned int *)pointer)[-2];
    void *block = (unsigned char *)pointer - ((unsigned int *)pointer)[-1];
    *(void **)block = free_lists[size_class];
    free_lists[size_class] = block;
}

// Swift's stack protector reports a smashed stack here: the guest traps, the host answers 500.
unsigned long __stack_chk_guard = 0x5d1e2c3b;
void __stack_chk_fail(void) { __builtin_trap(); }

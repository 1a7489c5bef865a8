// Guests for the isolate tests, built with the toolchain's clang: clang --target=wasm32.
__attribute__((import_module("edge"), import_name("log"))) void edge_log(const char *pointer, int length);

__attribute__((export_name("add_one"))) int add_one(int x) { return x + 1; }

__attribute__((export_name("hello"))) int hello(void) {
    edge_log("hello from C", 12);
    return 0;
}

__attribute__((export_name("spin"))) int spin(void) {
    volatile int i = 0;
    for (;;) i++;
    return i;
}

// Grows memory a page at a time until refused; returns the pages it got.
__attribute__((export_name("memory_bomb"))) int memory_bomb(void) {
    int pages = 0;
    while (__builtin_wasm_memory_grow(0, 1) != -1) pages++;
    return pages;
}

__attribute__((export_name("recurse"))) int recurse(int depth) {
    volatile int frame[16];
    frame[depth & 15] = depth;
    return recurse(depth + 1) + frame[0];
}

__attribute__((export_name("bad_pointer"))) int bad_pointer(void) {
    edge_log((const char *)0x7ffffff0, 4096);
    return 0;
}

__attribute__((export_name("negative_length"))) int negative_length(void) {
    edge_log("x", -1);
    return 0;
}

__attribute__((export_name("chatty"))) int chatty(void) {
    for (int i = 0; i < 100000; i++) edge_log("x", 1);
    return 0;
}

__attribute__((export_name("out_of_bounds"))) int out_of_bounds(void) {
    return *(volatile int *)0x7ffffff0;
}

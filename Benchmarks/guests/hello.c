// The isolate benchmark's guest (clang --target=wasm32): answers a call with a constant.
__attribute__((export_name("fetch"))) int fetch(int request) { return request * 2 + 1; }

# The store (datasets/): unit tests on real SQLite files, and the crash test that kills a
# writer process (tests/store_writer_child.c) in the middle of its batches.
ef_add_test(test_store SOURCES test_store.c LIBS ef_datasets ef_common TIMEOUT 300)
# The writer process the crash test SIGKILLs in the middle of its batches.
add_executable(store_writer_child store_writer_child.c)
target_link_libraries(store_writer_child PRIVATE ef_datasets ef_common)
add_dependencies(test_store store_writer_child)
target_compile_definitions(test_store PRIVATE EF_STORE_CHILD="$<TARGET_FILE:store_writer_child>")
# Merging shard stores (library and `envforge merge`; the CLI case skips when the binary
# is not built).
ef_add_test(test_store_merge SOURCES test_store_merge.c LIBS ef_datasets ef_common TIMEOUT 120)
# Throughput of the store (run by hand or from tests/bench; nothing asserted on time).
add_executable(bench_store store_bench.c)
target_link_libraries(bench_store PRIVATE ef_datasets ef_common Threads::Threads)

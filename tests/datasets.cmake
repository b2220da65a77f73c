# The store (datasets/): unit tests on real SQLite files, and the crash test that kills a
# writer process (tests/store_writer_child.c) in the middle of its batches.
ef_add_test(test_store SOURCES test_store.c LIBS ef_datasets ef_common TIMEOUT 300)

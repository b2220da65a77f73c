# common/ tests beyond test_common (registered in tests/CMakeLists.txt): one program per
# header-only helper.
ef_add_test(test_common_utf8 SOURCES test_common_utf8.c LIBS ef_common)

// doctest's runner in its own object, so editing test_logic.cpp does not recompile it.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

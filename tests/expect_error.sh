#!/bin/sh
# Usage: expect_error.sh STATUS COMMAND... Runs a command that must fail with exit status STATUS
# and passes its output through. ctest's PASS_REGULAR_EXPRESSION alone ignores the exit status,
# so another status prints a line that the test's FAIL_REGULAR_EXPRESSION matches.
expected=$1
shift
"$@" 2>&1
status=$?
if [ "$status" -ne "$expected" ]; then echo "UNEXPECTED EXIT STATUS $status (expected $expected)"; fi

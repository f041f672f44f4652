#!/usr/bin/env python3
"""Run the secho end-to-end tests.

    SECHO_BIN=build/secho python3 tests/integration/run.py [-k PATTERN]... [-v] [SELECTOR]...

SELECTOR: a module (test_tcp or test_tcp.py), a class (test_tcp.TcpEcho) or
one test (test_tcp.TcpEcho.test_nc_roundtrip).  -k PATTERN selects tests
whose id contains PATTERN (or matches it as a shell pattern with *), like
unittest's -k; several -k are or'ed.  -v prints the daemon output of
failed tests in full (it is always in the failure message).

Prints one line per test, the failures, and as the last line exactly
`N passed, N failed, N skipped`.  Exit 1 when any test failed or errored.
"""

import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class Result(unittest.TestResult):
    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.passed = []
        self.t0 = {}

    def _print(self, test, status, extra=""):
        dt = time.monotonic() - self.t0.get(test.id(), time.monotonic())
        self.stream.write("%-4s %s (%.1fs)%s\n" % (status, test.id(), dt, extra))
        self.stream.flush()

    def startTest(self, test):
        super().startTest(test)
        self.t0[test.id()] = time.monotonic()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed.append(test)
        self._print(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._print(test, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self._print(test, "ERR")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._print(test, "skip", ": " + reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed.append(test)
        self._print(test, "ok", " (expected failure)")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.failures.append((test, "unexpected success"))
        self._print(test, "FAIL", " (unexpected success)")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._print(subtest, "FAIL")


def main():
    ap = argparse.ArgumentParser(description="secho end-to-end tests")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="only tests whose id contains PATTERN (shell * allowed)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-x", "--failfast", action="store_true", help="stop at the first failure")
    ap.add_argument("selectors", nargs="*")
    opts = ap.parse_args()

    sys.path.insert(0, HERE)
    os.chdir(os.path.dirname(os.path.dirname(HERE)))   # repo root

    loader = unittest.TestLoader()
    if opts.patterns:
        loader.testNamePatterns = [p if "*" in p else "*%s*" % p for p in opts.patterns]

    suite = unittest.TestSuite()
    if opts.selectors:
        for sel in opts.selectors:
            sel = os.path.basename(sel) if sel.endswith(".py") else sel
            if sel.endswith(".py"):
                sel = sel[:-3]
            suite.addTests(loader.loadTestsFromName(sel))
    else:
        for fn in sorted(os.listdir(HERE)):
            if fn.startswith("test_") and fn.endswith(".py"):
                suite.addTests(loader.loadTestsFromName(fn[:-3]))

    binpath = os.environ.get("SECHO_BIN", "build/secho")
    sys.stdout.write("secho integration tests, SECHO_BIN=%s, %d tests\n"
                     % (binpath, suite.countTestCases()))
    sys.stdout.flush()

    result = Result(sys.stdout)
    result.failfast = opts.failfast
    t0 = time.monotonic()
    suite.run(result)
    elapsed = time.monotonic() - t0

    problems = [("FAIL", t, e) for t, e in result.failures] + \
               [("ERROR", t, e) for t, e in result.errors]
    for kind, test, err in problems:
        sys.stdout.write("\n" + "=" * 70 + "\n%s: %s\n" % (kind, test.id()) + "-" * 70 + "\n")
        if not opts.verbose and len(err) > 12000:
            err = err[:3000] + "\n[...]\n" + err[-9000:]
        sys.stdout.write(err + "\n")
    failed = len(result.failures) + len(result.errors)
    sys.stdout.write("\n%.1fs\n" % elapsed)
    sys.stdout.write("%d passed, %d failed, %d skipped\n"
                     % (len(result.passed), failed, len(result.skipped)))
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

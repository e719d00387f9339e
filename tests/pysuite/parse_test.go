package pysuite

import (
	"path/filepath"
	"testing"
)

// sample is `python3 -m test -v` output with the shapes the parser meets:
// docstrings, output between a description and its status, subtests, a
// fixture error and the failure summary.
const sample = `== CPython 3.11.2 (main) [GCC 12.2.0]
0:00:00 load avg: 0.50 Run tests sequentially
0:00:00 load avg: 0.50 [1/1] test_x
test_a (test.test_x.A.test_a) ... ok
test_b (test.test_x.A.test_b)
Docstring of test_b. ... FAIL
test_c (test.test_x.A.test_c) ... child output
ok
test_d (test.test_x.A.test_d) ... skipped 'no frobnicator'
test_e (test.test_x.A.test_e) ... 
  test_e (test.test_x.A.test_e) (i=1) ... FAIL
test_f (test.test_x.A.test_f) ... expected failure
test_g (test.test_x.A.test_g) ... unexpected success
setUpClass (test.test_x.B) ... ERROR
test_h (test.test_x.C.test_h) ... ERROR

======================================================================
ERROR: setUpClass (test.test_x.B)
----------------------------------------------------------------------
Traceback (most recent call last):
OSError: [Errno 38] Function not implemented

======================================================================
ERROR: test_h (test.test_x.C.test_h)
----------------------------------------------------------------------
Traceback (most recent call last):
OSError: [Errno 22] Invalid argument

----------------------------------------------------------------------
Ran 9 tests in 0.010s

FAILED (failures=2, errors=2, skipped=1)
test test_x failed
`

func TestParse(t *testing.T) {
	p := parse([]byte(sample))
	want := map[string]Status{
		"test.test_x.A.test_a": Pass, "test.test_x.A.test_b": Fail, "test.test_x.A.test_c": Pass,
		"test.test_x.A.test_d": Skip, "test.test_x.A.test_e": Fail, "test.test_x.A.test_f": Pass,
		"test.test_x.A.test_g": Fail, "test.test_x.B.setUpClass": Fail, "test.test_x.C.test_h": Fail,
	}
	if !p.done || p.open != "" {
		t.Errorf("done %v open %q, want done and nothing open", p.done, p.open)
	}
	for id, s := range want {
		if p.results[id] != s {
			t.Errorf("%s: %q, want %q", id, p.results[id], s)
		}
	}
	if len(p.results) != len(want) {
		t.Errorf("%d results, want %d: %v", len(p.results), len(want), p.results)
	}
}

// A run that died in a test leaves it open.
func TestParseKilled(t *testing.T) {
	p := parse([]byte("test_a (test.test_x.A.test_a) ... ok\ntest_b (test.test_x.A.test_b) ... \nTimeout (0:05:00)!\nThread 0x1 (most recent call first):\n"))
	if p.done || !p.timeout || p.open != "test.test_x.A.test_b" {
		t.Errorf("done %v timeout %v open %q", p.done, p.timeout, p.open)
	}
}

func TestKnownParses(t *testing.T) {
	if _, err := ParseKnown(filepath.Join("KNOWN.md")); err != nil {
		t.Fatal(err)
	}
}

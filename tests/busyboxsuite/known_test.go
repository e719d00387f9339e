package busyboxsuite

import (
	"testing"
)

// TestKnownParses checks KNOWN.md without running anything: every row names
// an applet and a test and gives a reason.
func TestKnownParses(t *testing.T) {
	ks, err := readKnown("KNOWN.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, k := range ks {
		if k.applet == "" || k.name == "" || k.reason == "" {
			t.Errorf("KNOWN.md row without applet, test or reason: %+v", k)
		}
		if seen[k.applet+"\t"+k.name] {
			t.Errorf("KNOWN.md lists %s: %s twice", k.applet, k.name)
		}
		seen[k.applet+"\t"+k.name] = true
	}
}

func TestSplitRow(t *testing.T) {
	got := splitRow("| awk | `awk \"cmd\" \\| getline` | FAIL | why |")
	want := []string{"awk", `awk "cmd" | getline`, "FAIL", "why"}
	if len(got) != len(want) {
		t.Fatalf("splitRow: %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cell %d: %q, want %q", i, got[i], want[i])
		}
	}
}
